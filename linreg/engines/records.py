"""What every engine does around its loop: keeping losses, the divergence check, the Run."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch

from linreg.config import TrainConfig
from linreg.errors import TrainingDiverged
from linreg.json_types import Fingerprint, JsonObject
from linreg.run import LossCurve, Run
from linreg.state import state_dict_hash, state_to_json


class LossBuffer:
    """Losses, one 0-dim tensor per step, kept where they were computed without a kernel each.

    Writing each epoch's loss into a preallocated tensor (``losses[epoch] = loss``) is an
    indexed copy: on the CPU about a tenth of the tutorial's own epoch, and a kernel launch per
    epoch on a GPU. Holding the tensor the loop already has costs a list append; the held
    tensors are stacked into place a block at a time, which bounds the memory they keep.
    """

    BLOCK = 1024

    def __init__(self, length: int, dtype: torch.dtype, device: str) -> None:
        self._values = torch.empty(length, dtype=dtype, device=device)
        self._filled = 0
        self._pending: list[torch.Tensor] = []

    def append(self, loss: torch.Tensor) -> None:
        """Keep ``loss`` (detached, 0-dim); it must not be changed in place afterwards."""
        self._pending.append(loss)
        if len(self._pending) == self.BLOCK:
            self._flush()

    def extend(self, values: torch.Tensor) -> None:
        """Append every loss of ``values`` at once (a resumed run's history so far)."""
        self._flush()
        end = self._filled + len(values)
        self._values[self._filled : end] = values
        self._filled = end

    def values(self) -> torch.Tensor:
        """Every loss appended so far, in order, as one tensor on the device."""
        self._flush()
        return self._values[: self._filled]

    def _flush(self) -> None:
        if not self._pending:
            return
        end = self._filled + len(self._pending)
        torch.stack(self._pending, out=self._values[self._filled : end])
        self._filled = end
        self._pending.clear()


def stop_if_diverged(losses: torch.Tensor, latest: float | None) -> None:
    """Raise TrainingDiverged at the first non-finite loss; ``latest`` is a cheap early look."""
    if latest is not None and math.isfinite(latest):
        return
    finite = torch.isfinite(losses)
    if bool(finite.all()):
        return
    epoch = int((~finite).nonzero()[0, 0])
    raise TrainingDiverged(epoch, float(losses[epoch]))


def record_eval(
    epoch: int,
    loss: torch.Tensor,
    test_loss: torch.Tensor,
    train_losses: LossBuffer,
    test_losses: LossBuffer,
    on_eval: Callable[[int, float, float], None] | None,
) -> None:
    """At an evaluated epoch: keep the test loss, read the train loss (the tutorial reads both
    here, so this sync is part of its semantics), stop on divergence, report progress.

    ``train_losses`` already holds this epoch's loss."""
    test_losses.append(test_loss)
    train_value = loss.item()
    if not math.isfinite(train_value):
        stop_if_diverged(train_losses.values(), None)
    if on_eval is not None:
        on_eval(epoch, train_value, test_loss.item())


def eval_epochs(config: TrainConfig) -> list[int]:
    return list(range(0, config.epochs, config.eval_every))


def _floats(values: torch.Tensor | Sequence[float]) -> tuple[float, ...]:
    if isinstance(values, torch.Tensor):
        return tuple(values.to(torch.float64).tolist())
    return tuple(values)


def make_run(
    config: TrainConfig,
    environment: Fingerprint,
    train_losses: torch.Tensor | Sequence[float],
    test_losses: torch.Tensor | Sequence[float],
    initial_state: JsonObject,
    final_state: Mapping[str, torch.Tensor],
    timings: dict[str, float],
) -> Run:
    """One Run from an engine's loss tensors (train: one per epoch; test: one per eval epoch)."""
    history = LossCurve(
        train_loss=_floats(train_losses),
        test_epochs=tuple(eval_epochs(config)),
        test_loss=_floats(test_losses),
    )
    return Run(
        config=config,
        environment=environment,
        history=history,
        initial_state=initial_state,
        final_state=state_to_json(final_state),
        state_hash=state_dict_hash(final_state),
        timings=timings,
    )
