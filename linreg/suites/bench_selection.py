"""Which benchmark cases to run, and why a case that was asked for cannot run here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from linreg.config import DTYPES, ENGINES, OPTIMIZERS, TrainConfig
from linreg.options import optimizer_settings, parse_choices, parse_fractions, parse_integers

DEVICES = ("cpu", "cuda", "mps")
KINDS = ("train", "inference", "epoch", "engine_epoch", "copy", "threads", "overhead")
QUICK_KINDS = ("train", "inference")
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
) -> BenchSelection:
    """Parse comma lists as given on a command line; None keeps the (quick) profile's default.

    --quick is CI's profile: cpu, float32, seed 42, eager, train and inference. Options given
    explicitly still win over it.
    """
    return BenchSelection(
        devices=parse_choices("devices", devices, DEVICES, ("cpu",) if quick else DEVICES),
        dtypes=parse_choices("dtypes", dtypes, DTYPES, ("float32",) if quick else DTYPES),
        seeds=parse_integers("seeds", seeds, 0) or DEFAULT_SEEDS,
        engines=parse_choices("engines", engines, ENGINES, ("eager",) if quick else ENGINES),
        kinds=parse_choices("kinds", kinds, KINDS, QUICK_KINDS if quick else KINDS),
        sizes=parse_integers("sizes", sizes, 2) or None,
        quick=quick,
        optimizers=parse_choices("optimizers", optimizers, OPTIMIZERS, DEFAULT_OPTIMIZERS),
        momentums=parse_fractions("momentums", momentums) if momentums else DEFAULT_MOMENTUMS,
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
