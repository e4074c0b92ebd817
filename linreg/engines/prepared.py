"""PreparedRun: a run split into set-up, the epochs and the record, so each can be timed apart.

``prepare`` (in linreg.engines) does the set-up: environment, data, model, optimizer, compile.
``loop()`` runs the epochs and nothing else: the part a benchmark times. ``finish()`` checks the
losses and builds the record. ``train(config)`` is the three in a row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from linreg.config import TrainConfig
from linreg.numerics import numeric_settings

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
        with numeric_settings(self.config):
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
