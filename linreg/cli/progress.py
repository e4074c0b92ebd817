"""Progress of long work: a live bar on a terminal; plain lines on stderr anywhere else.

A CI log is not a terminal: a rich bar there prints nothing until the work ends (it is drawn
transiently), so a long job looks hung. Off a terminal each change of step, and every tenth of
the way or every ten seconds within a step, is one plain line on stderr.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from linreg.cli.console import console, progress

# Off a terminal: a line at least every this many seconds, or tenth of the work.
_EVERY_SECONDS = 10.0
_EVERY_FRACTION = 0.1


class Tracker:
    """``update(completed, total, description)``: whichever of the two displays is in use."""

    def __init__(self, label: str, bar: Progress | None) -> None:
        self._label, self._bar = label, bar
        self._task = bar.add_task(label, total=None) if bar else None
        self._description = label
        self._said_at, self._said_fraction = 0.0, -1.0
        self._started = time.monotonic()

    def update(self, completed: int, total: int | None = None, description: str | None = None):
        if self._bar is not None:
            self._bar.update(self._task, completed=completed, total=total,
                             description=description or self._label)  # fmt: skip
            return
        now = time.monotonic()
        fraction = completed / total if total else 0.0
        changed = description is not None and description != self._description
        due = now - self._said_at >= _EVERY_SECONDS or fraction - self._said_fraction >= (
            _EVERY_FRACTION
        )
        finished = bool(total) and completed >= total and self._said_fraction < 1.0
        if not (changed or due or finished):
            return
        self._description = description or self._description
        of = f" {completed} of {total}" if total else ""
        progress(f"{self._description}:{of} ({now - self._started:.0f} s)")
        self._said_at, self._said_fraction = now, fraction


@contextmanager
def tracked(label: str) -> Iterator[Tracker]:
    """A Tracker for the block: a transient bar on a terminal, plain stderr lines otherwise."""
    if not console.is_terminal:
        yield Tracker(label, None)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bar:
        yield Tracker(label, bar)
