"""SIGTERM handled like Ctrl-C: raised where the process is, so that every cleanup runs.

Python's default SIGTERM ends the process at once: a temp file being written stays behind and
child processes keep running. Raised as an exception instead, it passes through the writers'
and the repro runner's cleanup, as KeyboardInterrupt does.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


@dataclass
class SigtermState:
    """Whether SIGTERM arrived: a caller that sees only a KeyboardInterrupt turned into an exit
    code (as click does) can still tell a kill from a Ctrl-C."""

    received: bool = False


def _raise_terminated(signum: int, frame: object) -> None:
    _STATE.received = True
    raise Terminated()


# One per process: nested blocks (the CLI, and the repro runner inside it) share it.
_STATE = SigtermState()


@contextlib.contextmanager
def sigterm_raises() -> Iterator[SigtermState]:
    """Within the block, SIGTERM raises Terminated; the previous handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield _STATE  # only the main thread may set handlers; there the default stays
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    if previous is not _raise_terminated:
        _STATE.received = False  # the outermost block starts afresh
    try:
        yield _STATE
    finally:
        signal.signal(signal.SIGTERM, previous)
