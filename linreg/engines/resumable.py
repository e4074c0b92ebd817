"""A run that can stop after any epoch and hand over its state, or start from such a state.

``train_until(config, stop_at)`` trains epochs 0 … stop_at − 1 and gives the TrainingState;
``resume(state)`` trains the epochs that remain in this process and gives the Run, the same Run,
bit for bit, as an uninterrupted run of the config. The eager engine only: its optimizer is
torch.optim's, whose state_dict is the whole of its state.
"""

from __future__ import annotations

from linreg.config import TrainConfig
from linreg.engines.eager import prepare_eager
from linreg.engines.observe import EvalCallback
from linreg.engines.prepared import ResumableRun
from linreg.errors import ConfigError
from linreg.run import Run
from linreg.training_state import TrainingState


def _check_engine(config: TrainConfig) -> None:
    if config.engine != "eager":
        raise ConfigError(
            "engine",
            f"stopping at an epoch and resuming run on the eager engine only, got {config.engine}",
        )


def prepare_resumable(
    config: TrainConfig,
    resume_from: TrainingState | None = None,
    stop_at: int | None = None,
    on_eval: EvalCallback | None = None,
) -> ResumableRun:
    """The eager run of ``config`` from ``resume_from`` (None: from scratch) to ``stop_at``
    (None: to the end)."""
    _check_engine(config)

    return prepare_eager(config, on_eval=on_eval, resume_from=resume_from, stop_at=stop_at)


def train_until(
    config: TrainConfig,
    stop_at: int,
    resume_from: TrainingState | None = None,
    on_eval: EvalCallback | None = None,
) -> TrainingState:
    """Train epochs up to ``stop_at`` (from ``resume_from``'s epoch, or 0) and give the state."""
    prepared = prepare_resumable(config, resume_from, stop_at, on_eval)
    prepared.loop()
    return prepared.training_state()


def resume(state: TrainingState, on_eval: EvalCallback | None = None) -> Run:
    """Finish the run ``state`` was taken from, in this process."""
    prepared = prepare_resumable(state.config, state, None, on_eval)
    prepared.loop()
    return prepared.finish()
