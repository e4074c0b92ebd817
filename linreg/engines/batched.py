"""The batched engine: K members (seeds × learning rates) trained at once, vectorised.

Each member is the tutorial's model, initialised exactly as eager initialises its seed; the K
weights and biases live in (K, 1) tensors and every epoch is a handful of broadcast ops over all
members. The gradient of the loss is written in closed form (for L1 the mean of sign(ŷ − y)·x,
for MSE 2·mean((ŷ − y)·x)): it is what autograd computes for nn.Linear + L1Loss/MSELoss, without
the autograd bookkeeping that dominates at this size. Every op is chosen to round as eager's
does (two roundings in w·x + b, the (1, N) @ (N, 1) product for the weight gradient), so on the
CPU in float32 members are bit-identical to their eager twins (tests check seeds 0–99).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence

import torch

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.engines import EvalCallback
from linreg.engines.members import MemberRuns
from linreg.engines.prepared import PreparedRun
from linreg.engines.records import eval_epochs, stop_if_diverged
from linreg.env import capture_environment
from linreg.errors import ConfigError
from linreg.numerics import numeric_settings, resolve, synchronize
from linreg.run import Run

# Called at each evaluated epoch with (epoch, epochs): progress for long sweeps.
ProgressCallback = Callable[[int, int], None]


def member_configs(
    config: TrainConfig, seeds: Sequence[int] | None = None, lrs: Sequence[float] | None = None
) -> list[TrainConfig]:
    """One config per member, seed-major: every seed at every learning rate."""
    seeds = [config.seed] if seeds is None else list(seeds)
    lrs = [config.lr] if lrs is None else list(lrs)
    if not seeds:
        raise ConfigError("seeds", "no seeds given")
    if not lrs:
        raise ConfigError("lrs", "no learning rates given")
    return [
        config.replace(seed=seed, lr=lr, engine="batched")
        for seed, lr in itertools.product(seeds, lrs)
    ]


def check_axes(config: TrainConfig, seeds: Sequence[int], lrs: Sequence[float]) -> None:
    """Refuse what member_configs would refuse, without a validated config per member (a
    thousand of them cost a sixth as much as training the batch): each learning rate is checked
    in a config of its own, each seed's type, and TrainConfig's seed range at both ends."""
    if not seeds:
        raise ConfigError("seeds", "no seeds given")
    if not lrs:
        raise ConfigError("lrs", "no learning rates given")
    for lr in lrs:
        config.replace(lr=lr)
    for seed in seeds:
        if not isinstance(seed, int) or isinstance(seed, bool):
            config.replace(seed=seed)  # raises, naming the seed
    config.replace(seed=min(seeds))
    config.replace(seed=max(seeds))


def initial_parameters(seeds: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, 1) float32 weights and biases on the CPU, each as build_model makes it for its seed.

    build_model's torch.manual_seed also seeds every accelerator backend, which costs far more
    than the model itself when done a thousand times; the CPU generator alone decides the CPU
    initialisation, so seeding just it gives the same parameters (the tests compare them). Each
    member is then two uniform draws, as nn.Linear(1, 1).reset_parameters() makes them, without
    building a Module or going through nn.init per seed (either costs more than the training).
    """
    weight_bound, bias_bound = _linear_init_bounds()
    weights = torch.empty(len(seeds), 1)
    biases = torch.empty(len(seeds), 1)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        for seed, weight, bias in zip(seeds, weights.unbind(), biases.unbind(), strict=True):
            torch.default_generator.manual_seed(seed)
            weight.uniform_(-weight_bound, weight_bound)
            bias.uniform_(-bias_bound, bias_bound)
    return weights, biases


def _linear_init_bounds() -> tuple[float, float]:
    """The bounds nn.Linear(1, 1).reset_parameters() draws from, computed as nn.init does:
    kaiming_uniform_(weight, a=√5) over fan_in = 1, then ±1/√fan_in for the bias."""
    fan_in = 1
    gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    weight_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
    return weight_bound, 1 / math.sqrt(fan_in)


def prepare_batched(
    config: TrainConfig,
    seeds: Sequence[int] | None = None,
    lrs: Sequence[float] | None = None,
    on_eval: EvalCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> PreparedRun[MemberRuns]:
    """Set up every (seed, lr) member; ``finish()`` gives their Runs, as eager would record each.

    ``on_eval`` receives the first member's losses (for ``linreg train --engine batched``).
    Timings are the whole batch's: train_seconds covers all members together.
    """
    return PreparedRun(*_prepare(config, seeds, lrs, on_eval, on_progress))


def prepare_one_member(
    config: TrainConfig, on_eval: EvalCallback | None = None
) -> PreparedRun[Run]:
    """The config's own seed and lr as a batch of one, giving its Run."""
    resolved, loop, record = _prepare(config, None, None, on_eval, None)
    return PreparedRun(resolved, loop, lambda train_seconds: record(train_seconds)[0])


def train_batched(
    config: TrainConfig,
    seeds: Sequence[int] | None = None,
    lrs: Sequence[float] | None = None,
    on_eval: EvalCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> MemberRuns:
    """Train every (seed, lr) member at once; one Run per member, as eager would record it."""
    prepared = prepare_batched(config, seeds, lrs, on_eval=on_eval, on_progress=on_progress)
    prepared.loop()
    return prepared.finish()


def _prepare(
    config: TrainConfig,
    seeds: Sequence[int] | None,
    lrs: Sequence[float] | None,
    on_eval: EvalCallback | None,
    on_progress: ProgressCallback | None,
) -> tuple[TrainConfig, Callable[[], float], Callable[[float], MemberRuns]]:
    """The resolved config, the loop over epochs and the recording of its outcome."""
    if config.optimizer != "sgd":
        raise ConfigError(
            "optimizer", f"the batched engine supports sgd only, got {config.optimizer!r}"
        )
    config = resolve(config)
    seeds = [config.seed] if seeds is None else list(seeds)
    lrs = [config.lr] if lrs is None else list(lrs)
    check_axes(config, seeds, lrs)
    with numeric_settings(config):
        environment = capture_environment()
        data = make_dataset(config)
        dtype = data.X_train.dtype
        # Members are seed-major: member k is (seeds[k // len(lrs)], lrs[k % len(lrs)]).
        weight, bias = initial_parameters(seeds)
        weight = weight.repeat_interleave(len(lrs), dim=0).to(device=config.device, dtype=dtype)
        bias = bias.repeat_interleave(len(lrs), dim=0).to(device=config.device, dtype=dtype)
        # Training changes weight and bias in place; the records need them as they started.
        initial_weight = weight.to("cpu", copy=True)
        initial_bias = bias.to("cpu", copy=True)
        K = len(seeds) * len(lrs)
        n_train = data.X_train.shape[0]
        # Rows: the samples laid out along dim 1 so that (K, 1) parameters broadcast to (K, N).
        x_train, y_train = data.X_train.reshape(1, -1), data.y_train.reshape(1, -1)
        x_test, y_test = data.X_test.reshape(1, -1), data.y_test.reshape(1, -1)
        # d loss / d ŷ per sample, as autograd forms it: sign(ŷ − y)·(1/N) for L1, (ŷ − y)·(2/N)
        # for MSE; then the weight gradient as a batched (1, N) @ (N, 1) product per member, the
        # same shape of product eager's backward makes.
        l1 = config.loss == "l1"
        grad_scale = (1.0 if l1 else 2.0) / n_train
        x_columns = data.X_train.reshape(1, -1, 1).expand(K, -1, 1)
        # p ← p − lr·g per member; addcmul_ rounds as SGD's add_(g, alpha=−lr) does.
        neg_lr = -torch.tensor(lrs * len(seeds), dtype=dtype, device=config.device)
        neg_lr = neg_lr.reshape(K, 1)

        train_losses = torch.empty(config.epochs, K, dtype=dtype, device=config.device)
        test_losses = torch.empty(len(eval_epochs(config)), K, dtype=dtype, device=config.device)

        def mean_loss(residual: torch.Tensor) -> torch.Tensor:
            return (residual.abs() if l1 else residual.square()).mean(dim=1)

    def loop() -> float:
        synchronize(config.device)
        started = time.perf_counter()
        with torch.inference_mode():
            for epoch in range(config.epochs):
                # w·x + b as two roundings, as eager's addmm does; addcmul would fuse them.
                residual = torch.mul(weight, x_train).add_(bias).sub_(y_train)  # ŷ − y, (K, N)
                train_losses[epoch] = mean_loss(residual)
                slope = (residual.sign_() if l1 else residual).mul_(grad_scale)
                weight.addcmul_(torch.bmm(slope.unsqueeze(1), x_columns).reshape(K, 1), neg_lr)
                bias.addcmul_(slope.sum(dim=1, keepdim=True), neg_lr)
                if epoch % config.eval_every == 0:
                    test_residual = torch.mul(weight, x_test).add_(bias).sub_(y_test)
                    test_losses[epoch // config.eval_every] = mean_loss(test_residual)
                    if on_eval is not None or on_progress is not None:
                        first = float(train_losses[epoch, 0])
                        stop_if_diverged(train_losses[: epoch + 1, 0], first)
                        if on_eval is not None:
                            on_eval(epoch, first, float(test_losses[epoch // config.eval_every, 0]))
                        if on_progress is not None:
                            on_progress(epoch, config.epochs)
        synchronize(config.device)
        return time.perf_counter() - started

    def record(train_seconds: float) -> MemberRuns:
        timings = {
            "train_seconds": train_seconds,
            "epoch_us": train_seconds / config.epochs * 1e6,
            "members": float(K),
        }
        train_cpu, test_cpu = train_losses.cpu(), test_losses.cpu()
        finite = torch.isfinite(train_cpu).all(dim=0)
        if not bool(finite.all()):
            stop_if_diverged(train_cpu[:, int((~finite).nonzero()[0, 0])], None)
        return MemberRuns(
            config,
            seeds,
            lrs,
            environment,
            timings,
            train_cpu,
            test_cpu,
            (initial_weight, initial_bias),
            (weight.cpu(), bias.cpu()),
        )

    return config, loop, record
