"""A target's run stopped after a step: everything a fresh process needs to finish it bit for bit.

The harness owns the step, so it owns what a resumed run must restore: the model's, the
optimizer's and the scheduler's state_dicts; every generator that moves (torch's CPU one, each
CUDA device's, Python's ``random``, NumPy's, and the data generator the harness passed to the
target's ``data``); the data position (the pass over the train data and the batch within it,
with the generators as they were when that pass began, so that a resumed run draws that pass's
order again and skips the batches already taken); and the history so far.

Every tensor is on the CPU; ``linreg.results.target_checkpoint`` writes and reads it as one torch
file loadable with ``weights_only=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from linreg.run import Resumption
from linreg.target_config import TargetConfig


@dataclass(frozen=True)
class DataPosition:
    """Where the run stands in its train data: ``batch`` batches of pass ``pass_index`` taken.

    ``pass_generator`` and ``pass_rng`` are the data generator's and the process's generators as
    they were when that pass began (None for batches the harness placed once, a list, whose order
    draws nothing): a DataLoader draws its shuffled order and its workers' seeds when its iterator
    starts, so a resumed run starts the pass again from those states and skips ``batch`` batches.
    """

    pass_index: int
    batch: int
    pass_generator: torch.Tensor | None = None
    pass_rng: dict[str, Any] | None = None

    def said(self) -> str:
        return f"pass {self.pass_index}, batch {self.batch}"


@dataclass(frozen=True)
class TargetTrainingState:
    """A run of ``config`` after ``step`` steps (0 … step − 1 done)."""

    config: TargetConfig  # resolved: a concrete device and number of steps
    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]  # torch.optim's state_dict
    scheduler: dict[str, Any] | None  # the scheduler's state_dict; None where there is none
    rng: dict[str, Any]  # linreg.training_state.capture_rng's: the generators the loop draws from
    data_generator: torch.Tensor  # the data generator's state now
    position: DataPosition
    train_loss: torch.Tensor  # (step,): each step's train loss so far, in the run's dtype
    eval_steps: tuple[int, ...]
    eval_loss: tuple[float, ...]
    train_seconds: float  # the loop's time so far
    # The checkpoint file it was read from; None for a state taken in this process.
    source: Resumption | None = field(default=None, compare=False)
