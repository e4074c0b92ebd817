"""Child processes under a time limit.

At the limit a child is interrupted as Ctrl-C would interrupt it (SIGINT to its process group),
so that it keeps what it finished: pytest still saves the benchmarks that ran and writes its
JUnit file, a repro run keeps its finished configs. Only a child that does not stop within a
grace period is killed. Whatever stops the caller (Ctrl-C, SIGTERM, an error) stops the child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# How long an interrupted child may take to save what it has before it is killed.
GRACE_SECONDS = 15.0
# The exit code `timeout` gives a command it stopped: what a timed-out child reports here.
TIMED_OUT = 124


def interruptible() -> Callable[[], None] | None:
    """Popen's ``preexec_fn`` for a child that is stopped as Ctrl-C would stop it. A process
    started with SIGINT ignored (``nohup linreg ... &``, a script's or a CI runner's background
    job) passes that on, since an ignored signal stays ignored across exec: the interrupt at
    the limit would never land, and the child would be killed after the grace period with what
    it had finished. Such a child gets SIGINT at its default; in a process group of its own, it
    is out of any terminal's reach, so only its caller interrupts it. None where SIGINT is not
    ignored here: the child gets its default anyway, and Popen keeps its faster vfork."""
    return _sigint_at_default if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else None


def _sigint_at_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass(frozen=True)
class Finished:
    """How a child ended: its exit code (TIMED_OUT when stopped at the limit) and its time."""

    exit_code: int
    timed_out: bool
    seconds: float


def run_bounded(
    command: Sequence[str],
    *,
    timeout_s: float | None,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    log_path: str | Path | None = None,
    grace_s: float = GRACE_SECONDS,
) -> Finished:
    """Run ``command``, its output appended to ``log_path`` (else inherited), for at most
    ``timeout_s`` seconds (None: no limit) plus the grace period if it has to be interrupted."""
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        log = (
            stack.enter_context(Path(log_path).open("a", encoding="utf-8"))
            if log_path is not None
            else None
        )
        child = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT if log is not None else None,
            stdin=subprocess.DEVNULL,
            # Its own process group: the interrupt reaches its workers too (a repro run's, a
            # compiler's), as Ctrl-C reaches a whole foreground group, and nothing else.
            start_new_session=True,
            preexec_fn=interruptible(),
        )
        try:
            code = child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop(child, grace_s)
            return Finished(TIMED_OUT, True, time.monotonic() - started)
        except BaseException:
            _stop(child, grace_s)
            raise
        return Finished(code, False, time.monotonic() - started)


@dataclass(frozen=True)
class Job:
    """One child of ``run_bounded_together``: its command, folder, environment and log."""

    command: Sequence[str]
    cwd: str | Path | None = None
    env: Mapping[str, str] | None = None
    log_path: str | Path | None = None


def run_bounded_together(
    jobs: Sequence[Job], *, timeout_s: float | None, grace_s: float = GRACE_SECONDS
) -> list[Finished]:
    """Run ``jobs`` at once (one core each, where there are as many), each for at most
    ``timeout_s`` seconds from the start, as ``run_bounded`` runs one; whatever stops the
    caller stops them all. Each job's Finished, in order."""
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        children = []
        try:
            for job in jobs:
                log = (
                    stack.enter_context(Path(job.log_path).open("a", encoding="utf-8"))
                    if job.log_path is not None
                    else None
                )
                children.append(
                    subprocess.Popen(
                        list(job.command),
                        cwd=job.cwd,
                        env=dict(job.env) if job.env is not None else None,
                        stdout=log,
                        stderr=subprocess.STDOUT if log is not None else None,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                        preexec_fn=interruptible(),
                    )
                )
            finished = []
            for child in children:
                left = None if timeout_s is None else started + timeout_s - time.monotonic()
                try:
                    code = child.wait(timeout=None if left is None else max(left, 0.0))
                    finished.append(Finished(code, False, time.monotonic() - started))
                except subprocess.TimeoutExpired:
                    _stop(child, grace_s)
                    finished.append(Finished(TIMED_OUT, True, time.monotonic() - started))
            return finished
        except BaseException:
            for child in children:
                if child.poll() is None:
                    _stop(child, grace_s)
            raise


def _stop(child: subprocess.Popen, grace_s: float) -> None:
    """Interrupt the child's group, wait for it to save and end, kill what is left."""
    _signal_group(child, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=grace_s)
    # Workers that ignored the interrupt may outlive their parent: the whole group goes.
    _signal_group(child, signal.SIGKILL)
    child.wait()


def _signal_group(child: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(child.pid, sig)
