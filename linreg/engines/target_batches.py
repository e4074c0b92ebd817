"""The train batches of a target's run, pass after pass, with where the run stands in them.

A pass is one iteration over the target's train data; a new pass starts a new iterator, which for
a shuffling DataLoader draws a new order (and its workers' seeds) from the generator the harness
passed. A run that will stop for a checkpoint also notes, at each pass's start, the data
generator's and the process's generators' states: a resumed run starts that pass again from them
and skips the batches already taken, so it draws the very batches the uninterrupted run drew.
A run that does not stop notes nothing (the loop a benchmark times is the same as before).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from linreg.engines.target_build import Placed
from linreg.target import TargetError
from linreg.target_state import DataPosition
from linreg.training_state import borrowed_rng, capture_rng


class TrainBatches:
    """An endless iterator over the train batches, placed on the run's device and dtype."""

    def __init__(
        self,
        train: Any,
        place: Callable[[Any], Any],
        generator: torch.Generator,
        spec: str,
        track: bool,
    ) -> None:
        self.train, self.place, self.generator, self.spec = train, place, generator, spec
        self.placed = isinstance(train, Placed)
        self.track = track  # note the generators at each pass's start (a run that stops)
        self.pass_index = 0
        self.batch = 0
        self._iterator: Any = None
        self._pass_generator: torch.Tensor | None = None
        self._pass_rng: dict[str, Any] | None = None

    def __iter__(self) -> TrainBatches:
        return self

    def __next__(self) -> Any:
        while True:
            if self._iterator is None:
                self._start_pass()
            try:
                batch = next(self._iterator)
            except StopIteration:
                if self.batch == 0:
                    raise TargetError(self.spec, "its train data yields no batch") from None
                self._iterator = None
                self.pass_index += 1
                continue
            self.batch += 1
            return batch if self.placed else self.place(batch)

    def _start_pass(self) -> None:
        self.batch = 0
        if self.track and not self.placed:
            self._pass_generator = self.generator.get_state()
            self._pass_rng = capture_rng()
        self._iterator = iter(self.train)

    def position(self) -> DataPosition:
        """Where the run stands: the pass, the batches of it taken, and (for a run that tracks
        them) the generators as that pass began."""
        if self._iterator is None and self.batch == 0 and self.pass_index == 0:
            # Nothing drawn yet: the pass starts from the generators as they are now.
            generator = None if self.placed else self.generator.get_state()
            rng = None if self.placed else capture_rng()
            return DataPosition(0, 0, generator, rng)
        return DataPosition(self.pass_index, self.batch, self._pass_generator, self._pass_rng)

    def restore(self, position: DataPosition) -> None:
        """Start ``position``'s pass again from the generators it began with and take the
        batches it had taken; the data generator is then where the stopped run left it (for a
        target whose data draws only from it)."""
        self.pass_index, self.batch = position.pass_index, 0
        self._iterator = None
        if position.batch == 0:
            return
        if self.placed:
            self._iterator = iter(self.train)
        else:
            if position.pass_generator is None or position.pass_rng is None:
                raise ValueError("the data position lacks the generators its pass began with")
            self.generator.set_state(position.pass_generator)
            # The pass's iterator draws from the process's generators too (a DataLoader without
            # a generator of its own, a dataset that augments): as they were when it began.
            with borrowed_rng(position.pass_rng):
                self._pass_generator = position.pass_generator
                self._pass_rng = position.pass_rng
                self._iterator = iter(self.train)
                for _ in range(position.batch):
                    next(self._iterator)
            self.batch = position.batch
            return
        for _ in range(position.batch):
            next(self._iterator)
        self.batch = position.batch
