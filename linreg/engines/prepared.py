"""PreparedRun: a run split into set-up, the epochs and the record, so each can be timed apart.

``prepare`` (in linreg.engines) does the set-up: environment, data, model, optimizer, compile.
``loop()`` runs the epochs and nothing else: the part a benchmark times. ``finish()`` checks the
losses and builds the record. ``train(config)`` is the three in a row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import torch

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
