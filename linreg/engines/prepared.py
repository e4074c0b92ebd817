"""PreparedRun: a run split into set-up, the epochs and the record, so each can be timed apart.

``prepare`` (in linreg.engines) does the set-up: environment, data, model, optimizer, compile.
``loop()`` runs the epochs and nothing else: the part a benchmark times. ``finish()`` checks the
losses and builds the record. ``train(config)`` is the three in a row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import torch

from linreg.config import TrainConfig
from linreg.errors import ConfigError
from linreg.numerics import numeric_settings
from linreg.run import Run
from linreg.training_state import TrainingState, borrowed_rng, capture_rng, config_mismatch

Record = TypeVar("Record")


class PreparedRun(Generic[Record]):
    """A run whose set-up is done: ``loop()`` once, then ``finish()``.

    ``epochs`` runs every epoch and returns its own wall-clock seconds (synchronised with the
    device); ``record`` turns those seconds and the state the epochs left into the result.
    """

    def __init__(
        self,
        config: TrainConfig,
        epochs: Callable[[], float],
        record: Callable[[float], Record],
    ) -> None:
        self.config = config  # resolved: a concrete device
        self._epochs = epochs
        self._record = record
        self._train_seconds: float | None = None

    def loop(self) -> None:
        """Run the epochs, under the run's threads and determinism flags (borrowed, returned)."""
        if self._train_seconds is not None:
            raise RuntimeError("loop() already ran: prepare the run again to train again")
        with numeric_settings(self.config), _fresh_memory_left_unfilled():
            self._train_seconds = self._epochs()

    @property
    def train_seconds(self) -> float | None:
        """The loop's own time, synchronised with the device; None before ``loop()``."""
        return self._train_seconds

    def finish(self) -> Record:
        """Check the losses and build the record (raises TrainingDiverged on a non-finite loss)."""
        if self._train_seconds is None:
            raise RuntimeError("finish() before loop(): the epochs have not run")
        return self._record(self._train_seconds)


@contextlib.contextmanager
def _fresh_memory_left_unfilled() -> Iterator[None]:
    """Under deterministic algorithms torch fills every new tensor with NaN before an op writes
    it, so that an op reading memory it never wrote still gives the same result: a kernel per
    allocation, 8 % of the tutorial's epoch. The engines' ops write every element they allocate,
    and torch's documentation of ``fill_uninitialized_memory`` says such a program may turn the
    fill off and stay deterministic; the loops' results do not change (tests compare them)."""
    saved = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = saved


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
