"""Target: what gets trained, written by a user as a small class; the harness trains it.

A target gives, for a size, the model, its data, loss, optimizer (and scheduler), and optionally
its own forward; it declares what it supports (devices, dtypes, engines), its sizes, its
tolerances and any nondeterminism it knows of. The harness (linreg.engines.target_loop) owns the
step, the seeds and every random generator, so eager and compiled wrap one function.

No torch here: ``import linreg`` (and ``linreg --help``) re-exports Target and TargetData without
loading torch; a target's own module imports torch when it is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from linreg.config import DTYPES, ENGINES
from linreg.errors import ConfigError, TrainingDiverged

if TYPE_CHECKING:
    import torch

# The device kinds linreg knows how to run on (a config's "cuda:1" is of kind "cuda").
DEVICE_KINDS = ("cpu", "cuda", "mps")
# The builders every target writes; ``scheduler`` and ``forward`` have defaults.
REQUIRED_BUILDERS = {
    "model": "def model(self, size) -> torch.nn.Module",
    "data": "def data(self, size, generator) -> TargetData",
    "loss": "def loss(self, size) -> callable(outputs, targets) -> scalar tensor",
    "optimizer": "def optimizer(self, params, size) -> torch.optim.Optimizer",
}
REQUIRED_SIZE = "ci"


class TargetError(ConfigError):
    """A target cannot be loaded or trained as written: a bad input, exit 2. ``field`` is
    "target", so the CLI's one line reads ``--target: <spec>: <problem>``."""

    def __init__(self, spec: str, message: str) -> None:
        self.spec, self.problem = spec, message
        super().__init__("target", f"{spec}: {message}")


class TargetDiverged(TrainingDiverged):
    """A target's loss became NaN or infinite at ``step`` (0-based): a failing check, exit 1."""

    def __init__(self, step: int, value: float, what: str = "train loss") -> None:
        self.step = step
        self.value = value
        self.epoch = step  # TrainingDiverged's name for it
        Exception.__init__(self, f"training diverged: {what} is {value} at step {step}")


class Size(Mapping[str, Any]):
    """One of a target's sizes, read-only: its knobs as attributes (``size.hidden``) or keys,
    its ``name``, and ``steps``: the steps this run trains (the size's, unless a run asks for
    another number), so a schedule built from it spans the run."""

    __slots__ = ("_knobs", "name")

    def __init__(self, name: str, knobs: Mapping[str, Any]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_knobs", MappingProxyType(dict(knobs)))

    def __getattr__(self, key: str) -> Any:
        try:
            return self._knobs[key]
        except KeyError:
            known = ", ".join(sorted(self._knobs))
            message = f"size {self.name!r} has no knob {key!r} (it has {known})"
            raise AttributeError(message) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("a size is read-only")

    def __getitem__(self, key: str) -> Any:
        return self._knobs[key]

    def __iter__(self):
        return iter(self._knobs)

    def __len__(self) -> int:
        return len(self._knobs)

    def __repr__(self) -> str:
        return f"Size({self.name!r}, {dict(self._knobs)!r})"


@dataclass(frozen=True)
class TargetData:
    """The batches a target trains and evaluates on: each an iterable of ``(inputs, targets)``
    (a DataLoader, whose shuffling draws from the generator the harness passes to ``data``, or
    a list of tensor pairs). ``eval`` None: the run evaluates nothing."""

    train: Iterable[Any]
    eval: Iterable[Any] | None = None


class Target:
    """Derive from this and write the four builders; declarations are class attributes.

    ``size`` is a read-only Size. The harness builds the model on the CPU in float32 under the
    run's seed and then moves it (``.to(device, dtype)``); it moves each batch to the device and
    casts its floating tensors to the run's dtype (integer tensors, labels and token ids, stay).
    """

    name: ClassVar[str] = ""  # default: the class name, lower case
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    # float64 is the reference the others are judged against.
    dtypes: ClassVar[tuple[str, ...]] = ("float32", "float64")
    # "batched" (torch.func vmap over seeds) where the model allows it.
    engines: ClassVar[tuple[str, ...]] = ("eager", "compiled")
    # Knobs the builders read; "steps" is required in each, and a "ci" size is required.
    sizes: ClassVar[dict[str, dict[str, Any]]] = {"ci": {"steps": 40}, "full": {"steps": 400}}
    eval_every: ClassVar[int] = 10  # steps between evaluations
    clip_grad_norm: ClassVar[float | None] = None  # the harness clips gradients when set
    # dtype -> (rtol, atol) where linreg's table (torch.testing.assert_close's) does not fit.
    tolerances: ClassVar[dict[str, tuple[float, float]]] = {}
    # A run may be this many times further from float64 than its twin is.
    fp64_multiplier: ClassVar[float] = 3.0
    nondeterministic: ClassVar[tuple[str, ...]] = ()  # known nondeterminism, in words
    # Files beside the target's source (relative to it) that its numbers depend on: bundled
    # data, or other source files; their bytes are part of the target's code hash.
    data_files: ClassVar[tuple[str, ...]] = ()

    def model(self, size: Size) -> torch.nn.Module:
        raise NotImplementedError

    def data(self, size: Size, generator: torch.Generator) -> TargetData:
        raise NotImplementedError

    def loss(self, size: Size) -> Any:
        raise NotImplementedError

    def optimizer(self, params: list[torch.nn.Parameter], size: Size) -> torch.optim.Optimizer:
        raise NotImplementedError

    def scheduler(self, optimizer: torch.optim.Optimizer, size: Size) -> Any:
        """An LR scheduler stepped after every optimizer step, or None."""
        return None

    def forward(self, model: torch.nn.Module, inputs: Any) -> Any:
        """The model's output for a batch's inputs; override for models taking more."""
        return model(inputs)

    def eval_steps(self, steps: int) -> tuple[int, ...]:
        """The steps (0-based) after which the eval loss is taken: every ``eval_every`` steps
        and the last. A target whose convention differs (the tutorial evaluates after steps
        0, 50, …) overrides this."""
        every = range(self.eval_every - 1, steps, self.eval_every)
        return tuple(sorted({*every, steps - 1}))

    @classmethod
    def target_name(cls) -> str:
        return cls.name or cls.__name__.lower()

    def size(self, name: str, steps: int | None = None) -> Size:
        """The named size, with ``steps`` in place of the size's own where given."""
        knobs = dict(self.sizes[name])
        if steps is not None:
            knobs["steps"] = steps
        return Size(name, knobs)

    def default_size(self) -> str:
        """The size a run trains when none is asked: the full one where the target has it."""
        return "full" if "full" in self.sizes else REQUIRED_SIZE


def declaration_problems(cls: type[Target]) -> list[str]:
    """What is wrong with a target class's builders and declarations, in words; [] if none."""
    problems = [
        f"lacks the {name} builder ({signature})"
        for name, signature in REQUIRED_BUILDERS.items()
        if getattr(cls, name, None) is getattr(Target, name)
    ]
    problems += _choice_problems("devices", cls.devices, DEVICE_KINDS)
    problems += _choice_problems("dtypes", cls.dtypes, DTYPES)
    problems += _choice_problems("engines", cls.engines, ENGINES)
    problems += _size_problems(cls.sizes)
    if not _is_int(cls.eval_every) or cls.eval_every < 1:
        problems.append(f"eval_every must be an integer >= 1, got {cls.eval_every!r}")
    clip = cls.clip_grad_norm
    if clip is not None and not (_is_number(clip) and math.isfinite(clip) and clip > 0):
        problems.append(f"clip_grad_norm must be None or a number > 0, got {clip!r}")
    if not (_is_number(cls.fp64_multiplier) and cls.fp64_multiplier > 0):
        problems.append(f"fp64_multiplier must be a number > 0, got {cls.fp64_multiplier!r}")
    problems += _tolerance_problems(cls.tolerances)
    for attribute in ("nondeterministic", "data_files"):
        value = getattr(cls, attribute)
        if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
            problems.append(f"{attribute} must be a tuple of strings, got {value!r}")
    if not isinstance(cls.name, str):
        problems.append(f"name must be a string, got {cls.name!r}")
    return problems


def _choice_problems(attribute: str, value: Any, known: tuple[str, ...]) -> list[str]:
    if not isinstance(value, (tuple, list)) or not value:
        return [f"{attribute} must be a non-empty tuple of names, got {value!r}"]
    unknown = [item for item in value if item not in known]
    if unknown:
        return [f"{attribute} names {unknown[0]!r}, which linreg does not know "
                f"(known: {', '.join(known)})"]  # fmt: skip
    return []


def _size_problems(sizes: Any) -> list[str]:
    if not isinstance(sizes, Mapping):
        return [f"sizes must be a dict of size name -> knobs, got {sizes!r}"]
    if REQUIRED_SIZE not in sizes:
        return [f'sizes has no "{REQUIRED_SIZE}" size (a small one for tests: '
                f'sizes = {{"ci": {{"steps": 20}}, ...}})']  # fmt: skip
    problems = []
    for name, knobs in sizes.items():
        if not isinstance(name, str) or not isinstance(knobs, Mapping):
            problems.append(f"sizes[{name!r}] must be a dict of knobs")
            continue
        steps = knobs.get("steps")
        if not _is_int(steps) or steps < 1:
            problems.append(f'sizes["{name}"]["steps"] must be an integer >= 1, got {steps!r}')
    return problems


def _tolerance_problems(tolerances: Any) -> list[str]:
    if not isinstance(tolerances, Mapping):
        return [f"tolerances must be a dict of dtype -> (rtol, atol), got {tolerances!r}"]
    problems = []
    for dtype, pair in tolerances.items():
        if dtype not in DTYPES:
            problems.append(f"tolerances names {dtype!r}, not a dtype ({', '.join(DTYPES)})")
        elif not (
            isinstance(pair, (tuple, list))
            and len(pair) == 2
            and all(_is_number(v) and math.isfinite(v) and v >= 0 for v in pair)
        ):
            problems.append(f"tolerances[{dtype!r}] must be (rtol, atol), numbers >= 0")
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
