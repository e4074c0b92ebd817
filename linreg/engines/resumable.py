"""A run that can stop after any epoch and hand over its state, or start from such a state.

``train_until(config, stop_at)`` trains epochs 0 … stop_at − 1 and gives the TrainingState;
``resume(state)`` trains the epochs that remain in this process and gives the Run, the same Run,
bit for bit, as an uninterrupted run of the config. The eager engine only: its optimizer is
torch.optim's, whose state_dict is the whole of its state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from linreg.config import TrainConfig
from linreg.engines import EvalCallback
from linreg.engines.prepared import PreparedRun
from linreg.errors import ConfigError
from linreg.run import Run
from linreg.training_state import TrainingState, borrowed_rng, capture_rng, config_mismatch

# Takes (epoch reached, the generators' state, the loop's seconds so far) to the TrainingState.
Snapshot = Callable[[int, dict[str, Any], float], TrainingState]


class ResumableRun(PreparedRun[Run]):
    """A PreparedRun over epochs first … last − 1 whose state can be taken before and after its
    loop. A resumed run draws from the generators it was handed, borrowed for its loop."""

    def __init__(
        self,
        config: TrainConfig,
        epochs: Callable[[], float],
        record: Callable[[float], Run],
        snapshot: Snapshot,
        first_epoch: int,
        last_epoch: int,
        rng: dict[str, Any] | None,
        seconds_before: float,
    ) -> None:
        super().__init__(config, epochs, record)
        self._snapshot = snapshot
        self._first_epoch, self._last_epoch = first_epoch, last_epoch
        self._rng = rng  # None: the process's own generators
        self._seconds_before = seconds_before

    @property
    def stopped_early(self) -> bool:
        return self._last_epoch < self.config.epochs

    def loop(self) -> None:
        if self._rng is None:
            super().loop()
            return
        with borrowed_rng(self._rng):
            super().loop()
            self._rng = capture_rng()

    def finish(self) -> Run:
        if self.stopped_early:
            raise RuntimeError(
                f"the run stopped at epoch {self._last_epoch}: take its training_state()"
            )
        return super().finish()

    def training_state(self) -> TrainingState:
        """The run as it stands: before ``loop()``, the state it starts from (as restored, for a
        resumed run); after, the state it stopped in."""
        looped = self.train_seconds is not None
        epoch = self._last_epoch if looped else self._first_epoch
        if self._rng is None:
            rng = capture_rng()
        else:
            with borrowed_rng(self._rng):  # read back as set: what the loop would draw from
                rng = capture_rng()
        return self._snapshot(epoch, rng, self._seconds_before + (self.train_seconds or 0.0))


def check_segment(config: TrainConfig, start: TrainingState | None, stop_at: int | None) -> None:
    """Refuse a start state of another config, and a stop epoch outside the epochs that remain."""
    if start is not None:
        mismatch = config_mismatch(start.config, config)
        if mismatch:
            raise ConfigError("resume_from", f"a state of another config ({mismatch})")
    first = 0 if start is None else start.epoch
    if stop_at is not None and (
        isinstance(stop_at, bool)
        or not isinstance(stop_at, int)
        or not first <= stop_at <= config.epochs
    ):
        raise ConfigError(
            "stop_at", f"must be an epoch in [{first}, {config.epochs}], got {stop_at!r}"
        )


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
    from linreg.engines.eager import prepare_eager

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
