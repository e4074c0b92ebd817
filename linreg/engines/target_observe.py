"""What the harness's step computed for a target, handed to an observer after each step: the
loss, each named gradient, each named parameter and buffer after the step. The replay that finds
where two runs of a target part (``linreg.engines.target_trace``) reads it.

Quantities are named by module path, in the order the step computes them: ``loss``, then
``grad NAME`` for each parameter in the model's order (the gradient backward left, before any
clipping: the clipped one is a function of every gradient's norm, and would move the first
difference onto the first module), then ``NAME`` for each parameter after the optimizer's step
and ``buffer NAME`` for each buffer (BatchNorm's running statistics).

The compiled engine runs the step as one graph: it shows the gradients it left on the parameters
(the same as the unclipped ones when the target does not clip) and no gradients where it clips.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

LOSS = "loss"
GRAD_PREFIX = "grad "
BUFFER_PREFIX = "buffer "


@dataclass(frozen=True)
class TargetStepQuantities:
    """One step's quantities; tensors are the run's own (an observer that keeps them copies)."""

    loss: torch.Tensor
    gradients: dict[str, torch.Tensor | None] | None  # None: the engine does not show them
    parameters: dict[str, torch.Tensor]  # after the optimizer's step
    buffers: dict[str, torch.Tensor]

    def named(self) -> list[tuple[str, torch.Tensor | None]]:
        """(quantity, tensor) in the order the step computes them; None where not shown."""
        out: list[tuple[str, torch.Tensor | None]] = [(LOSS, self.loss)]
        if self.gradients is not None:
            out += [(GRAD_PREFIX + name, g) for name, g in self.gradients.items()]
        else:
            out += [(GRAD_PREFIX + name, None) for name in self.parameters]
        out += list(self.parameters.items())
        out += [(BUFFER_PREFIX + name, b) for name, b in self.buffers.items()]
        return out


# Called after each step with (step, quantities).
TargetStepObserver = Callable[[int, TargetStepQuantities], None]


def quantity_words(quantity: str) -> str:
    """A quantity as a sentence says it: 'the loss', 'the gradient of fc.weight', 'fc.weight
    after the step', 'the buffer bn.running_mean after the step'."""
    if quantity == LOSS:
        return "the loss"
    if quantity.startswith(GRAD_PREFIX):
        return f"the gradient of {quantity.removeprefix(GRAD_PREFIX)}"
    if quantity.startswith(BUFFER_PREFIX):
        return f"the buffer {quantity.removeprefix(BUFFER_PREFIX)} after the step"
    return f"{quantity} after the step"
