"""SIGTERM handled like Ctrl-C: raised where the process is, so that every cleanup runs.

Python's default SIGTERM ends the process at once: a temp file being written stays behind and
child processes keep running. Raised as an exception instead, it passes through the writers'
and the repro runner's cleanup, as KeyboardInterrupt does.

An exception can be raised between any two bytecodes, though: between the line that creates a
staging entry and the one that takes charge of removing it, or inside the removal itself.
``signals_deferred`` holds Ctrl-C and SIGTERM back across such a step and delivers them after.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


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


_DEFERRED = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Within the block, Ctrl-C and SIGTERM wait; each that arrived is delivered as the block
    ends, through the handler that was in place. For steps that must not be cut in two:
    creating a staging entry together with what removes it, and removing it."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are handled in the main thread only: nothing can interrupt this one
        return
    arrived: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        arrived.append(signum)

    try:
        with contextlib.ExitStack() as restore:
            for signum in _DEFERRED:
                if signal.getsignal(signum) is None:
                    continue  # a handler set outside Python: not ours to swap
                restore.callback(_restore, signum, signal.signal(signum, hold))
            yield
    finally:
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)


def _restore(signum: int, handler: Any) -> None:
    """signal.signal runs the handlers of signals already pending before it swaps: one that
    raises leaves the old handler in place, so the swap is made again."""
    try:
        signal.signal(signum, handler)
    except BaseException:
        signal.signal(signum, handler)
        raise
