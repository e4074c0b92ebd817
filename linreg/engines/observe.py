"""What an engine's step computed, handed to an observer each epoch: the replay that finds which
quantity of two runs diverged first reads it (``linreg.engines.trace``).

Each engine fills what it computes as separate values. The compiled engine's step is one fused
graph: its intermediates are those of a second graph that also returns them, and are given only
where that graph's loss and parameters equal the real step's bit for bit (else None: not seen).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StepQuantities:
    """One epoch's quantities, in the order the step computes them. Tensors may be the
    engine's own: an observer that keeps them copies them."""

    prediction: torch.Tensor | None  # the model's output on the training inputs, ŷ
    residual: torch.Tensor | None  # ŷ − y, as the loss sees it
    loss: torch.Tensor
    gradients: dict[str, torch.Tensor] | None  # by parameter name (linear.weight, linear.bias)
    parameters: dict[str, torch.Tensor]  # after the optimizer's step


# Called after each epoch's step with (epoch, quantities).
StepObserver = Callable[[int, StepQuantities], None]
# Called at each evaluated epoch with (epoch, train_loss, test_loss).
EvalCallback = Callable[[int, float, float], None]
