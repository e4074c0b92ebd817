"""A run replayed epoch by epoch, every quantity its step computed kept: the forward output, the
residual, the loss, each gradient and each parameter after the step. Two traces side by side
say which quantity of two runs diverged first (``linreg.compare.first_difference``).

Scalars are kept for every epoch. The per-sample vectors (ŷ and ŷ − y) are kept whole while
they fit ``keep_elements``, the latest epochs first being the ones a divergence is looked for
in; every epoch's vectors are also kept as a digest, so that where they differ is known even
where their values were not kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import torch

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.engines import prepare
from linreg.engines.observe import StepQuantities
from linreg.json_types import JsonObject
from linreg.numerics import resolve

# Per-sample values kept whole: 4 M elements are 32 MB in float64 per vector kind.
DEFAULT_KEEP_ELEMENTS = 4_000_000
VECTORS = ("prediction", "residual")
# The order one step computes its quantities in: the first that differs is the first cause.
QUANTITIES = (
    "prediction",
    "residual",
    "loss",
    "grad linear.weight",
    "grad linear.bias",
    "linear.weight",
    "linear.bias",
)


@dataclass
class Trace:
    """One replayed run: per epoch, each quantity's values (1-D, the run's dtype, on the CPU),
    None where the engine does not expose it or the values were not kept; vectors' digests."""

    config: dict[str, Any]
    dtype: str
    targets: torch.Tensor  # y of the training split, in the run's dtype
    values: list[dict[str, torch.Tensor | None]] = field(default_factory=list)
    digests: list[dict[str, str | None]] = field(default_factory=list)

    def to_dict(self) -> JsonObject:
        return {"config": self.config, "dtype": self.dtype, "targets": self.targets,
                "values": self.values, "digests": self.digests}  # fmt: skip

    @classmethod
    def from_dict(cls, data: JsonObject) -> Trace:
        return cls(data["config"], data["dtype"], data["targets"], data["values"],
                   data["digests"])  # fmt: skip

    @property
    def epochs(self) -> int:
        return len(self.values)


def _flat(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.detach().reshape(-1).to("cpu", copy=True)


def _digest(tensor: torch.Tensor | None) -> str | None:
    if tensor is None:
        return None
    return hashlib.sha1(tensor.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


def trace(
    config: TrainConfig, until_epoch: int, keep_elements: int = DEFAULT_KEEP_ELEMENTS
) -> Trace:
    """Replay ``config`` with its own engine up to and including ``until_epoch``."""
    config = resolve(config)
    epochs = max(1, min(until_epoch + 1, config.epochs))
    targets = make_dataset(config, device="cpu").y_train.reshape(-1).clone()
    samples = targets.numel()
    # Vectors are kept for the last epochs that fit the budget.
    first_kept = max(0, epochs - max(1, keep_elements // max(samples, 1)))
    result = Trace(config.to_dict(), config.dtype, targets)

    def observe(epoch: int, step: StepQuantities) -> None:
        values: dict[str, torch.Tensor | None] = {"loss": _flat(step.loss)}
        for name in VECTORS:
            values[name] = _flat(getattr(step, name))
        for name, tensor in (step.gradients or {}).items():
            values[f"grad {name}"] = _flat(tensor)
        for name, tensor in step.parameters.items():
            values[name] = _flat(tensor)
        result.digests.append({name: _digest(values[name]) for name in VECTORS})
        if epoch < first_kept:
            for name in VECTORS:
                values[name] = None
        result.values.append(values)

    prepared = prepare(config.replace(epochs=epochs), on_step=observe)
    prepared.loop()
    return result
