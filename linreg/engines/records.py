"""What every engine does around its loop: the divergence check and assembling the Run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from linreg.config import TrainConfig
from linreg.errors import TrainingDiverged
from linreg.run import LossCurve, Run
from linreg.state import state_dict_hash, state_to_json


def stop_if_diverged(losses: torch.Tensor, latest: float | None) -> None:
    """Raise TrainingDiverged at the first non-finite loss; ``latest`` is a cheap early look."""
    if latest is not None and torch.isfinite(torch.tensor(latest)):
        return
    finite = torch.isfinite(losses)
    if bool(finite.all()):
        return
    epoch = int((~finite).nonzero()[0, 0])
    raise TrainingDiverged(epoch, float(losses[epoch]))


def record_eval(
    config: TrainConfig,
    epoch: int,
    loss: torch.Tensor,
    test_loss: torch.Tensor,
    train_losses: torch.Tensor,
    test_losses: torch.Tensor,
    on_eval: Callable[[int, float, float], None] | None,
) -> None:
    """At an evaluated epoch: keep the test loss, read the train loss (the tutorial reads both
    here, so this sync is part of its semantics), stop on divergence, report progress."""
    test_losses[epoch // config.eval_every] = test_loss
    train_value = loss.item()
    stop_if_diverged(train_losses[: epoch + 1], train_value)
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
    environment: dict[str, Any],
    train_losses: torch.Tensor | Sequence[float],
    test_losses: torch.Tensor | Sequence[float],
    initial_state: dict[str, Any],
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
