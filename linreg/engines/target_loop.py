"""The harness's loop for any target: one step function that eager runs as it is and compiled
runs through ``torch.compile``.

Each step::

    optimizer.zero_grad(set_to_none=True); out = target.forward(model, x); loss = loss_fn(out, y)
    loss.backward(); clip_grad_norm_(params, clip) if set; optimizer.step(); scheduler.step() if any

``steps`` steps cycle over the train batches (a new pass draws a new order from the run's data
generator); each step's train loss (before its update) stays on the device; after each of the
target's eval steps the model is evaluated in eval mode under ``inference_mode`` (the mean loss
over the eval batches) and put back in train mode. Torch's generators (CPU and CUDA), Python's
``random``, NumPy's and the data generator are all seeded from the run's seed, and every global
setting a run changes is given back after it.

The compiled engine runs its first steps in ``prepare``: a step that compiles a graph is timed
apart (compile_seconds), and the loop starts once a step compiles nothing more, so the loop a
benchmark times holds no compilation. The steps are the run's own, so eager and compiled train
the same steps from the same state.

An observer (``on_step``) sees each step's loss, gradients, parameters and buffers (see
``linreg.engines.target_observe``); a run can stop after a step (``stop_at``) and hand over its
state (``training_state()``), and a run can start from such a state (``resume_from``) and finish
bit for bit as the uninterrupted run would: the eager engine only.
"""

from __future__ import annotations

import dataclasses
import math
import time
import types
from collections.abc import Callable
from typing import Any

import torch

from linreg.engines.compiled import compiler_problem
from linreg.engines.prepared import PreparedRun, _fresh_memory_left_unfilled
from linreg.engines.records import LossBuffer
from linreg.engines.target_batches import TrainBatches
from linreg.engines.target_build import (
    Built,
    Placed,
    build,
    float32_default,
    seed_everything,
    users_code,
)
from linreg.engines.target_observe import TargetStepObserver, TargetStepQuantities
from linreg.engines.target_pieces import live_pieces
from linreg.env import capture_environment
from linreg.errors import ConfigError, LinregError
from linreg.numerics import numeric_settings, resolve, synchronize, torch_dtype
from linreg.state import state_dict_hash
from linreg.target import Target, TargetDiverged, TargetError
from linreg.target_config import TargetConfig
from linreg.target_loading import check_runs_here, error_summary, load_target, source_files
from linreg.target_run import TargetRun, TargetTimings, TensorDigest
from linreg.target_state import TargetTrainingState
from linreg.training_state import borrowed_rng, capture_rng, cpu_copy, set_rng

# Called after each eval step with (step, train loss, eval loss or None where there is no eval).
TargetEvalCallback = Callable[[int, float, "float | None"], None]
# A compiled run's steps that compile a graph run in prepare, up to this many; any compiling
# after those does so inside the loop's timed steps.
MAX_COMPILING_STEPS = 4
TARGET_ENGINES = ("eager", "compiled")


class PreparedTargetRun(PreparedRun[TargetRun]):
    """A target's run set up: ``loop()`` trains the remaining steps (to ``stop_at``, where the
    run stops early) under the run's generators and settings (borrowed, given back),
    ``finish()`` builds the TargetRun, ``state_dict()`` is the trained model's state, and
    ``training_state()`` the whole state a fresh process resumes from."""

    def __init__(
        self,
        config: TargetConfig,
        run: _Loop,
        record: Callable[[float], TargetRun],
        rng: dict[str, Any],
    ) -> None:
        super().__init__(config, run.loop, record)  # type: ignore[arg-type]  # duck-typed settings
        self._run = run
        self._rng = rng
        self._model = run.built.model

    def loop(self) -> None:
        with borrowed_rng(self._rng), float32_default():
            super().loop()
            self._rng = capture_rng()

    @property
    def stopped_early(self) -> bool:
        return self._run.stop < self._run.steps

    def finish(self) -> TargetRun:
        if self.stopped_early:
            raise RuntimeError(f"the run stopped at step {self._run.stop}: take its "
                               "training_state()")  # fmt: skip
        return super().finish()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._model.state_dict()

    def training_state(self) -> TargetTrainingState:
        """The run as it stands: before ``loop()``, the state it starts from (as restored, for
        a resumed run); after, the state it stopped in. Every tensor copied to the CPU."""
        run, built = self._run, self._run.built
        with borrowed_rng(self._rng):  # read back as set: what the loop would draw from
            rng = capture_rng()
        return TargetTrainingState(
            config=self.config,
            step=run.next_step,
            model=cpu_copy(built.model.state_dict()),
            optimizer=cpu_copy(built.optimizer.state_dict()),
            scheduler=None if built.scheduler is None else cpu_copy(built.scheduler.state_dict()),
            rng=rng,
            data_generator=built.generator.get_state(),
            position=run.batches.position(),
            train_loss=run.train_losses.values().to("cpu", copy=True),
            eval_steps=tuple(run.evaluated),
            eval_loss=tuple(run.eval_values),
            train_seconds=run.seconds_before + (self.train_seconds or 0.0),
        )

    def pieces(self) -> dict[str, Any]:
        """The state piece by piece, read from the live model, optimizer, scheduler and
        generators (``linreg.engines.target_pieces``)."""
        run, built = self._run, self._run.built
        with borrowed_rng(self._rng):
            rng = capture_rng()
        return live_pieces(
            step=run.next_step,
            model=built.model,
            optimizer=built.optimizer,
            scheduler=built.scheduler,
            rng=rng,
            data_generator=built.generator.get_state(),
            position=run.batches.position(),
            train_loss=run.train_losses.values(),
            eval_steps=tuple(run.evaluated),
            eval_loss=tuple(run.eval_values),
        )


def train_target(
    config: TargetConfig,
    target: Target | None = None,
    on_eval: TargetEvalCallback | None = None,
    on_step: TargetStepObserver | None = None,
) -> TargetRun:
    """Prepare, loop, finish: a TargetRun."""
    prepared = prepare_target(config, target, on_eval, on_step)
    prepared.loop()
    return prepared.finish()


def prepare_target(
    config: TargetConfig,
    target: Target | None = None,
    on_eval: TargetEvalCallback | None = None,
    on_step: TargetStepObserver | None = None,
    resume_from: TargetTrainingState | None = None,
    stop_at: int | None = None,
) -> PreparedTargetRun:
    """Set up a run of ``target`` (loaded from the config's spec where not given, and refused if
    its code changed since the config was made): seeds, model, data, loss, optimizer, scheduler;
    for the compiled engine, the steps that compile. From ``resume_from``'s state where given
    (``config`` is then the state's; the eager engine only), to ``stop_at`` where given (a
    compiled run stopped early is a replay's, never a checkpoint's)."""
    if resume_from is not None:
        config = resume_from.config
    target = _the_target(config, target)
    spec = config.target.spec
    check_runs_here(target, config)
    if resume_from is not None and config.engine != "eager":
        raise ConfigError("engine", f"stopping at a step and resuming run on the eager engine "
                          f"only, got {config.engine}")  # fmt: skip
    if config.engine not in TARGET_ENGINES:
        raise ConfigError(
            "engine", f"{config.engine} does not train targets yet; use eager or compiled"
        )
    if config.engine == "compiled":
        problem = compiler_problem(config.device.split(":")[0])
        if problem is not None:
            raise ConfigError("engine", f"compiled is unavailable: {problem}; use eager")
    steps = config.steps or target.sizes[config.size]["steps"]
    config = resolve(config).replace(steps=steps)
    check_runs_here(target, config)  # "auto" is now a device the target must declare
    first = 0 if resume_from is None else resume_from.step
    if stop_at is not None and (
        isinstance(stop_at, bool) or not isinstance(stop_at, int) or not first < stop_at < steps
    ):
        raise ConfigError("stop_at", f"must be a step in [{first + 1}, {steps - 1}] (this run "
                          f"trains steps {first} to {steps - 1}), got {stop_at!r}")  # fmt: skip
    size = target.size(config.size, steps)
    sources = source_files(type(target))
    device, dtype = config.device, torch_dtype(config.dtype)
    eval_steps = _eval_steps(target, spec, steps)

    process_rng = capture_rng()
    try:
        with numeric_settings(config), float32_default():  # type: ignore[arg-type]
            seed_everything(config.seed)
            built = build(target, spec, size, config.seed, device, dtype, sources)
            environment = capture_environment()
            run = _Loop(target, config, built, eval_steps, sources, on_eval, on_step, stop_at)
            if resume_from is not None:
                run.restore(resume_from)
            if config.engine == "compiled":
                run.compile_first_steps()
            rng = capture_rng() if resume_from is None else resume_from.rng
    finally:
        set_rng(process_rng)
    source = None if resume_from is None else resume_from.source

    def finish(loop_seconds: float) -> TargetRun:
        return dataclasses.replace(run.record(environment, loop_seconds), resumed_from=source)

    return PreparedTargetRun(config, run, finish, rng)


def _the_target(config: TargetConfig, target: Target | None) -> Target:
    if target is not None:
        return target
    target, ref = load_target(config.target.spec)
    if ref.code_hash != config.target.code_hash:
        raise TargetError(
            config.target.spec,
            f"its code changed since this config was made (code hash {ref.short_hash}, the "
            f"config's {config.target.short_hash})",
        )
    return target


def _eval_steps(target: Target, spec: str, steps: int) -> tuple[int, ...]:
    chosen = tuple(target.eval_steps(steps))
    if list(chosen) != sorted(set(chosen)) or any(
        not isinstance(s, int) or not 0 <= s < steps for s in chosen
    ):
        raise TargetError(spec, f"eval_steps({steps}) must give increasing steps in [0, {steps})")
    return chosen


class _Loop:
    """The run's steps and evaluations, and the record they add up to."""

    def __init__(self, target, config, built, eval_steps, sources, on_eval, on_step=None,
                 stop_at=None) -> None:  # fmt: skip
        self.target, self.config, self.built = target, config, built
        self.spec = config.target.spec
        self.sources = sources
        self.on_eval = on_eval
        self.steps = config.steps
        self.stop = self.steps if stop_at is None else stop_at
        self.eval_steps = eval_steps
        self.eval_at = set(eval_steps)
        self.evaluated: list[int] = []  # the eval steps that had eval batches to measure
        self.eval_values: list[float] = []
        self.train_losses = LossBuffer(self.steps, torch_dtype(config.dtype), config.device)
        # A run that stops notes the generators at each pass's start, for its checkpoint.
        self.batches = TrainBatches(built.train, built.place, built.generator, self.spec,
                                    track=stop_at is not None)  # fmt: skip
        self.observe = None if on_step is None else _Observation(built, config, target, on_step)
        after_backward = None if self.observe is None else self.observe.after_backward
        self.step_fn = _step_function(target, built, self.spec, after_backward)
        if config.engine == "compiled":
            self.step_fn = torch.compile(self.step_fn)
        self.next_step = 0
        self.seconds_before = 0.0  # a resumed run's loop time in the process that stopped it
        self.compile_seconds: float | None = None
        self.warm_seconds = 0.0  # steps run in prepare that compiled nothing
        self.warm_steps = 0
        self.loop_first = 0

    def restore(self, state: TargetTrainingState) -> None:
        """Take up ``state``: the model's, optimizer's and scheduler's states loaded, the
        history so far, and the train data at the pass and batch the run had reached."""
        built = self.built
        with users_code(self.spec, "restoring its state raised", self.sources):
            built.model.load_state_dict(state.model)
            built.optimizer.load_state_dict(state.optimizer)
            if (built.scheduler is None) != (state.scheduler is None):
                has = "has" if state.scheduler is not None else "has no"
                raise TargetError(self.spec, f"the checkpoint {has} scheduler state, the target "
                                  "builds the other")  # fmt: skip
            if built.scheduler is not None:
                built.scheduler.load_state_dict(state.scheduler)
            self.batches.restore(state.position)
        self.train_losses.extend(state.train_loss.to(self.config.device))
        self.evaluated, self.eval_values = list(state.eval_steps), list(state.eval_loss)
        self.next_step = state.step
        self.seconds_before = state.train_seconds

    def run_steps(self, first: int, last: int) -> None:
        step_fn, batches, losses = self.step_fn, self.batches, self.train_losses
        eval_at, observe = self.eval_at, self.observe
        step = first
        try:
            for step in range(first, last):
                inputs, targets = _pair(next(batches), self.spec)
                loss = step_fn(inputs, targets)
                losses.append(loss)
                if observe is not None:
                    observe.step(step, loss)
                if step in eval_at:
                    self._evaluate(step, loss)
        except LinregError:
            raise
        except Exception as exc:
            raise self._failure(exc, step) from None
        self.next_step = last

    def _failure(self, exc: Exception, step: int) -> LinregError:
        module = type(exc).__module__
        if self.config.engine == "compiled" and module.startswith(
            ("torch._dynamo", "torch._inductor")
        ):
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            return ConfigError("engine", f"compiled is unavailable: torch.compile failed "
                               f"({type(exc).__name__}: {first}); use eager")  # fmt: skip
        return TargetError(self.spec, f"step {step} raised {error_summary(exc, self.sources)}")

    def _evaluate(self, step: int, loss: torch.Tensor) -> None:
        """The eval loss after ``step``; the train loss read here too (a sync the progress
        needs anyway), so a run that went NaN stops at its first eval after."""
        train_value = loss.item()
        if not math.isfinite(train_value):
            self._stop_if_diverged()
        eval_value = self._eval_loss()
        if eval_value is not None:
            if not math.isfinite(eval_value):
                raise TargetDiverged(step, eval_value, "eval loss")
            self.evaluated.append(step)
            self.eval_values.append(eval_value)
        if self.on_eval is not None:
            self.on_eval(step, train_value, eval_value)

    def _eval_loss(self) -> float | None:
        built = self.built
        if built.eval is None:
            return None
        model, loss_fn, place = built.model, built.loss_fn, built.place
        forward = self.target.forward
        placed = isinstance(built.eval, Placed)
        losses, counts = [], []
        model.eval()
        try:
            with torch.inference_mode():
                for batch in built.eval:
                    inputs, targets = _pair(batch if placed else place(batch), self.spec)
                    losses.append(loss_fn(forward(model, inputs), targets))
                    counts.append(_count(targets))
        finally:
            model.train()
        if not losses:
            return None
        if len(losses) == 1:
            return losses[0].item()
        # Weighted by batch size, so a short last batch counts for what it holds.
        weights = torch.tensor(counts, dtype=torch.float64)
        values = torch.stack([value.to("cpu", torch.float64) for value in losses])
        return float((values * weights).sum() / weights.sum())

    def _stop_if_diverged(self) -> None:
        values = self.train_losses.values()
        finite = torch.isfinite(values)
        if bool(finite.all()):
            return
        step = int((~finite).nonzero()[0, 0])
        raise TargetDiverged(step, float(values[step]))

    def compile_first_steps(self) -> None:
        """Run the steps that compile, timed apart; stop at the first that compiles nothing
        (its time counts as training), or after MAX_COMPILING_STEPS."""
        from torch._dynamo.utils import counters

        device = self.config.device
        self.compile_seconds = 0.0
        with _fresh_memory_left_unfilled():
            for step in range(min(MAX_COMPILING_STEPS, self.stop)):
                graphs = counters["stats"]["unique_graphs"]
                synchronize(device)
                started = time.perf_counter()
                self.run_steps(step, step + 1)
                synchronize(device)
                seconds = time.perf_counter() - started
                if counters["stats"]["unique_graphs"] == graphs:
                    self.warm_seconds, self.warm_steps = seconds, 1
                    return
                self.compile_seconds += seconds

    def loop(self) -> float:
        self.loop_first = self.next_step
        synchronize(self.config.device)
        started = time.perf_counter()
        self.run_steps(self.next_step, self.stop)
        synchronize(self.config.device)
        return time.perf_counter() - started

    def record(self, environment: dict, loop_seconds: float) -> TargetRun:
        self._stop_if_diverged()
        model = self.built.model
        state = model.state_dict()
        buffers = {name for name, _ in model.named_buffers()}
        train_seconds = loop_seconds + self.warm_seconds
        timed = self.steps - self.loop_first + self.warm_steps
        timings = TargetTimings(
            train_seconds=train_seconds,
            step_us=train_seconds / timed * 1e6 if timed else 0.0,
            timed_steps=timed,
            compile_seconds=self.compile_seconds,
        )
        return TargetRun(
            config=self.config,
            environment=environment,
            train_loss=tuple(self.train_losses.values().to(torch.float64).tolist()),
            eval_steps=tuple(self.evaluated),
            eval_loss=tuple(self.eval_values),
            parameters={name: _digest(t, name in buffers) for name, t in state.items()},
            state_hash=state_dict_hash(state),
            timings=timings,
        )


def _pair(batch: Any, spec: str) -> tuple[Any, Any]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TargetError(spec, f"a batch must be an (inputs, targets) pair, got "
                          f"{type(batch).__name__}")  # fmt: skip
    return batch[0], batch[1]


def _count(targets: Any) -> int:
    if isinstance(targets, torch.Tensor) and targets.ndim > 0:
        return int(targets.shape[0])
    return 1


def _digest(tensor: torch.Tensor, buffer: bool) -> TensorDigest:
    name = str(tensor.dtype).removeprefix("torch.")
    return TensorDigest(tuple(tensor.shape), name, state_dict_hash({"": tensor}), buffer)


class _Observation:
    """Hands each step's quantities to the observer: the gradients as backward left them
    (``after_backward`` copies them, eager only: in a compiled step it would split the graph),
    the parameters and buffers after the step."""

    def __init__(self, built: Built, config: TargetConfig, target: Target,
                 on_step: TargetStepObserver) -> None:  # fmt: skip
        self.on_step = on_step
        self.parameters = list(built.model.named_parameters())
        self.buffers = list(built.model.named_buffers())
        self.eager = config.engine == "eager"
        self.clips = target.clip_grad_norm is not None
        self.gradients: dict[str, torch.Tensor | None] = {}
        self.after_backward = self._copy_gradients if self.eager else None

    def _copy_gradients(self) -> None:
        self.gradients = {
            name: None if p.grad is None else p.grad.detach().clone() for name, p in self.parameters
        }

    def step(self, step: int, loss: torch.Tensor) -> None:
        if self.eager:
            gradients: dict[str, torch.Tensor | None] | None = self.gradients
        elif self.clips:
            gradients = None  # the compiled step's are clipped: not the quantity named
        else:
            gradients = {name: p.grad for name, p in self.parameters}
        self.on_step(step, TargetStepQuantities(
            loss=loss,
            gradients=gradients,
            parameters={name: p.detach() for name, p in self.parameters},
            buffers={name: b for name, b in self.buffers},
        ))  # fmt: skip


def _step_function(
    target: Target,
    built: Built,
    spec: str,
    after_backward: Callable[[], None] | None = None,
) -> Callable[[Any, Any], torch.Tensor]:
    """The harness's step, with a code object of its own: dynamo keeps compiled graphs on the
    code object, shared by every closure of one ``def``, and past its recompile limit runs the
    function eagerly (see linreg.engines.compiled); one per run keeps runs apart."""
    model, loss_fn, optimizer = built.model, built.loss_fn, built.optimizer
    scheduler, params, clip = built.scheduler, built.params, target.clip_grad_norm
    forward = target.forward

    def step(inputs: Any, targets: Any) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        outputs = forward(model, inputs)
        loss = loss_fn(outputs, targets)
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            raise _not_scalar(spec, loss)
        loss.backward()
        if after_backward is not None:
            after_backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return loss.detach()

    own = types.FunctionType(
        step.__code__.replace(), step.__globals__, step.__name__, None, step.__closure__
    )
    own.__qualname__ = step.__qualname__
    return own


def _not_scalar(spec: str, loss: Any) -> TargetError:
    if isinstance(loss, torch.Tensor):
        shape = tuple(loss.shape)
        return TargetError(spec, f"its loss returned a tensor of shape {shape}, not a scalar "
                           "(reduce it: .mean() or .sum())")  # fmt: skip
    return TargetError(spec, f"its loss returned {type(loss).__name__}, not a scalar tensor")
