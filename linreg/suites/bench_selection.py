"""Which benchmark cases to run, and why a case that was asked for cannot run here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from linreg.config import DTYPES, ENGINES, OPTIMIZERS, TrainConfig
from linreg.errors import ConfigError
from linreg.options import optimizer_settings, parse_choices, parse_fractions, parse_integers

DEVICES = ("cpu", "cuda", "mps")
KINDS = ("train", "inference", "epoch", "engine_epoch", "copy", "threads", "overhead")
QUICK_KINDS = ("train", "inference")
# A target's cases (bench/bench_target.py): its training loop and its model's forward; they
# run only where a target is named, and are then the default kinds.
TARGET_KINDS = ("target_step", "target_inference")
# The harness's cost on a target's step against a bare loop of it: asked for by name.
TARGET_OVERHEAD = "target_overhead"
# The overhead kind's cases: what linreg costs, each against the reference it must stay close to.
OVERHEAD_COMPARISONS = ("train", "sweep", "cli_help", "cli_env")
# The tutorial's training set (40 samples) up to one that no cache holds.
SWEEP_SIZES = (40, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
INFERENCE_BATCHES = (10, 1_000, 100_000, 10_000_000)
DEFAULT_SEEDS = (42,)
# The train cases' optimizer settings: the tutorial's plain SGD unless asked (case ids of the
# default setting say nothing of it, so that they stay those the baselines are keyed on).
DEFAULT_OPTIMIZERS, DEFAULT_MOMENTUMS = ("sgd",), (0.0,)


@dataclass(frozen=True)
class BenchSelection:
    """The axes of the benchmark matrix; sizes None means each kind's own default sizes."""

    devices: tuple[str, ...] = DEVICES
    dtypes: tuple[str, ...] = DTYPES
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    engines: tuple[str, ...] = ENGINES
    kinds: tuple[str, ...] = KINDS
    sizes: tuple[int, ...] | None = None
    quick: bool = False
    optimizers: tuple[str, ...] = DEFAULT_OPTIMIZERS
    momentums: tuple[float, ...] = DEFAULT_MOMENTUMS
    # The target of the target cases (a spec, as --target takes it) and its size; None: none.
    target: str | None = None
    target_size: str = "ci"

    def sweep_sizes(self) -> tuple[int, ...]:
        return self.sizes or SWEEP_SIZES

    def inference_batches(self) -> tuple[int, ...]:
        return self.sizes or INFERENCE_BATCHES

    def optimizer_settings(self) -> list[tuple[str, float]]:
        """The train cases' (optimizer, momentum) pairs."""
        return optimizer_settings(self.optimizers, self.momentums)


def parse_selection(
    devices: str | None = None,
    dtypes: str | None = None,
    seeds: str | None = None,
    sizes: str | None = None,
    engines: str | None = None,
    kinds: str | None = None,
    quick: bool = False,
    optimizers: str | None = None,
    momentums: str | None = None,
    target: str | None = None,
    target_size: str | None = None,
) -> BenchSelection:
    """Parse comma lists as given on a command line; None keeps the (quick) profile's default.

    --quick is CI's profile: cpu, float32, seed 42, eager, train and inference. Options given
    explicitly still win over it. With ``target`` (a spec other than the tutorial's), the kinds
    are the target's (target_step, target_inference) unless asked; without one, a target kind
    asked for is refused.
    """
    from linreg.target_loading import is_tutorial

    if target is not None and is_tutorial(target):
        target = None  # the tutorial's own cases are its benchmarks
    all_kinds = (*KINDS, *TARGET_KINDS, TARGET_OVERHEAD)
    default_kinds = TARGET_KINDS if target else QUICK_KINDS if quick else KINDS
    chosen_kinds = parse_choices("kinds", kinds, all_kinds, default_kinds)
    if target is None:
        if target_size is not None:
            raise ConfigError("size", "names a target's size: give --target too")
        asked = [kind for kind in chosen_kinds if kind.startswith("target_")]
        if asked:
            raise ConfigError("kinds", f"{asked[0]} is a target's case: give --target too")
    if target_size is not None and (not target_size.strip() or "," in target_size):
        raise ConfigError("size", f"must name one of the target's sizes, got {target_size!r}")
    return BenchSelection(
        devices=parse_choices("devices", devices, DEVICES, ("cpu",) if quick else DEVICES),
        dtypes=parse_choices("dtypes", dtypes, DTYPES, ("float32",) if quick else DTYPES),
        seeds=parse_integers("seeds", seeds, 0) or DEFAULT_SEEDS,
        engines=parse_choices("engines", engines, ENGINES, ("eager",) if quick else ENGINES),
        kinds=chosen_kinds,
        sizes=parse_integers("sizes", sizes, 2) or None,
        quick=quick,
        optimizers=parse_choices("optimizers", optimizers, OPTIMIZERS, DEFAULT_OPTIMIZERS),
        momentums=parse_fractions("momentums", momentums) if momentums else DEFAULT_MOMENTUMS,
        target=target,
        target_size=(target_size or "ci").strip(),
    )


def optimizer_id(optimizer: str, momentum: float) -> str:
    """A train case's optimizer part of its id: '' for the tutorial's plain SGD, 'adam',
    'sgd-momentum0.9'."""
    if optimizer == "sgd":
        return f"sgd-momentum{momentum:g}" if momentum else ""
    return optimizer


def skip_reason(device: str, dtype: str) -> str | None:
    """Why (device, dtype) cannot be benchmarked here, or None when it can."""
    import torch  # here: choosing a selection (and `linreg bench --help`) needs no torch

    if device == "cuda" and not torch.cuda.is_available():
        return (
            f"cuda not available: torch.cuda.is_available() is False "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda})"
        )
    if device == "mps":
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            return "mps not available: torch.backends.mps.is_available() is False"
        if dtype == "float64":
            return "mps has no float64"
    return _probe(device, dtype)


@cache
def _probe(device: str, dtype: str) -> str | None:
    """Run one tiny training step: the only sure way to know a device's kernels exist."""
    import torch

    from linreg.data import make_dataset
    from linreg.model import build_model, make_loss_fn, make_optimizer

    config = TrainConfig(device=device, dtype=dtype, epochs=1)
    try:
        data = make_dataset(config)
        model = build_model(config)
        loss = make_loss_fn(config)(model(data.X_train), data.y_train)
        make_optimizer(config, model).zero_grad()
        loss.backward()
        with torch.inference_mode():
            model(data.X_test)
    except (RuntimeError, NotImplementedError, TypeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{dtype} training does not run on {device}: {first_line}"
    return None
