"""TrainConfig: the single, validated source of a run's parameters."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from linreg.errors import ConfigError
from linreg.json_types import JsonObject

DTYPES = ("float32", "float64", "bfloat16", "float16")
ENGINES = ("eager", "compiled", "batched")
LOSSES = ("l1", "mse")
OPTIMIZERS = ("sgd", "adam")
# Largest finite value per dtype (torch.finfo): an lr beyond it cannot even be applied by SGD.
_DTYPE_MAX = {
    "float32": 3.4028234663852886e38,
    "float64": 1.7976931348623157e308,
    "bfloat16": 3.3895313892515355e38,
    "float16": 65504.0,
}
# 1e9 samples of X and y in float64 are 16 GB: past that a run cannot fit on a normal machine.
MAX_SAMPLES = 1_000_000_000
# Every epoch's loss is kept (on the device, then in the record): 1e7 epochs are 40 MB of float32
# and ~200 MB of JSON. A trillion would be terabytes, refused before anything is allocated.
MAX_EPOCHS = 10_000_000
# Fields added after the first results, with the default that leaves them out of the config id.
_LATER_FIELDS = {"tf32": False, "momentum": 0.0}
_DEVICE_PATTERN = re.compile(r"^(cpu|auto|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class TrainConfig:
    """Every parameter of one training run, defaulting to the tutorial's values."""

    # The tutorial's data: y = weight·x + bias on arange(start, stop, step), split train/test.
    weight: float = 0.8
    bias: float = 0.2
    start: float = 0.0
    stop: float = 1.0
    step: float = 0.02
    train_fraction: float = 0.8
    # For size sweeps: this many evenly spaced samples on [start, stop) instead of `step`.
    samples: int | None = None
    loss: str = "l1"
    optimizer: str = "sgd"
    lr: float = 0.01
    # SGD's momentum (torch.optim.SGD's; 0: the tutorial's plain SGD). Adam keeps its own moments
    # (torch's default betas and eps) and takes none.
    momentum: float = 0.0
    epochs: int = 500
    eval_every: int = 50
    seed: int = 42
    device: str = "cpu"
    dtype: str = "float32"
    engine: str = "eager"
    deterministic: bool = True
    # TensorFloat-32 in CUDA float32 matmuls (10-bit mantissa inputs): off, as in the tutorial.
    tf32: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> JsonObject:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: JsonObject) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown field (known: {', '.join(sorted(known))})")
        return cls(**data)

    def canonical_json(self) -> str:
        data = self.to_dict()
        # Fields added after results were first written are left out at their default, so that
        # every config id written before them (repro sets, run folders) stays what it was.
        for name, default in _LATER_FIELDS.items():
            if data[name] == default:
                del data[name]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @property
    def config_id(self) -> str:
        """A short content hash: equal configs share it on every machine."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:12]

    @property
    def train_size(self) -> int:
        return int(self.train_fraction * self.sample_count)

    @property
    def sample_count(self) -> int:
        if self.samples is not None:
            return self.samples
        return math.ceil((self.stop - self.start) / self.step)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(c: TrainConfig) -> None:
    for name in ("weight", "bias", "start", "stop", "step", "train_fraction", "lr"):
        value = getattr(c, name)
        if not _is_number(value) or not math.isfinite(value):
            raise ConfigError(name, f"must be a finite number, got {value!r}")
    for name in ("epochs", "eval_every", "seed"):
        if not _is_int(getattr(c, name)):
            raise ConfigError(name, f"must be an integer, got {getattr(c, name)!r}")
    if not _is_number(c.momentum) or not 0 <= c.momentum < 1:
        raise ConfigError("momentum", f"must be a number in [0, 1), got {c.momentum!r}")
    if c.lr <= 0:
        raise ConfigError("lr", f"must be > 0, got {c.lr!r}")
    if not 1 <= c.epochs <= MAX_EPOCHS:
        raise ConfigError("epochs", f"must be in [1, {MAX_EPOCHS:.0e}], got {c.epochs!r}")
    if c.eval_every < 1:
        raise ConfigError("eval_every", f"must be >= 1, got {c.eval_every!r}")
    if not 0 < c.train_fraction < 1:
        raise ConfigError("train_fraction", f"must be in (0, 1), got {c.train_fraction!r}")
    if not 0 <= c.seed < 2**63:
        raise ConfigError("seed", f"must be in [0, 2**63), got {c.seed!r}")
    if c.step <= 0:
        raise ConfigError("step", f"must be > 0, got {c.step!r}")
    if c.stop <= c.start:
        raise ConfigError("stop", f"must be greater than start ({c.start!r}), got {c.stop!r}")
    if c.samples is not None and (not _is_int(c.samples) or c.samples < 2):
        raise ConfigError("samples", f"must be an integer >= 2 or None, got {c.samples!r}")
    if c.threads is not None and (not _is_int(c.threads) or c.threads < 1):
        raise ConfigError("threads", f"must be an integer >= 1 or None, got {c.threads!r}")
    for name in ("deterministic", "tf32"):
        if not isinstance(getattr(c, name), bool):
            raise ConfigError(name, f"must be true or false, got {getattr(c, name)!r}")
    _check_choice("dtype", c.dtype, DTYPES)
    _check_choice("engine", c.engine, ENGINES)
    _check_choice("loss", c.loss, LOSSES)
    _check_choice("optimizer", c.optimizer, OPTIMIZERS)
    if c.optimizer == "adam" and c.momentum != 0:
        raise ConfigError(
            "momentum",
            f"is SGD's; adam keeps its own moments (betas at torch's defaults): leave --momentum "
            f"at 0 with adam, got {c.momentum!r}",
        )
    if not isinstance(c.device, str) or not _DEVICE_PATTERN.match(c.device):
        raise ConfigError(
            "device", f"must be one of cpu, cuda, cuda:N, mps, auto; got {c.device!r}"
        )
    if c.lr > _DTYPE_MAX[c.dtype]:
        raise ConfigError("lr", f"{c.lr!r} does not fit in {c.dtype} (max {_DTYPE_MAX[c.dtype]:g})")
    if c.sample_count > MAX_SAMPLES:
        raise ConfigError(
            "samples" if c.samples is not None else "step",
            f"{c.sample_count} samples is more than linreg handles ({MAX_SAMPLES:.0e})",
        )
    train = c.train_size
    if train < 1 or train >= c.sample_count:
        raise ConfigError(
            "train_fraction",
            f"leaves {train} of {c.sample_count} samples for training; "
            "both the train and the test split need at least one",
        )


def _check_choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(field, f"must be one of {', '.join(allowed)}; got {value!r}")
