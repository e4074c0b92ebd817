"""Worker processes of the repro suites (the copies, a replay), for the
tutorial's matrix and a target's alike.

The package is put on the children's PYTHONPATH so that a checkout runs without being installed;
SIGTERM stops every child; where one worker of several fails, the others are stopped rather than
left waiting for files that never come.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from linreg.processes import run_bounded
from linreg.signals import sigterm_raises

POLL_S = 0.2


def package_env() -> dict[str, str]:
    """This process's environment with this package first on PYTHONPATH."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def run_module(module: str, args: list[str], log: Path, timeout_s: float) -> str | None:
    """Run ``python -m module args`` to its end within ``timeout_s``, its output in ``log``;
    None where it succeeded, else the last line it wrote."""
    done = run_bounded(
        [sys.executable, "-m", module, *args], timeout_s=timeout_s, env=package_env(), log_path=log
    )
    if done.exit_code == 0:
        return None
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit code {done.exit_code}"


class Workers:
    """Named worker processes started side by side and stopped together: by SIGTERM (raised as
    Terminated within the block), by an error, and, for any still running, as the block ends."""

    def __init__(self, commands: dict[str, list[str]]) -> None:
        self._commands = commands
        self.processes: dict[str, subprocess.Popen] = {}
        self._stopped: set[str] = set()
        self._logs: dict[str, IO[bytes]] = {}
        self._kept: dict[str, str] | None = None
        self._exit = contextlib.ExitStack()

    def __enter__(self) -> Workers:
        self._exit.enter_context(sigterm_raises())
        try:
            # Each worker's stderr to a file rather than a pipe: a worker that says much while it
            # waits for its replays would fill a pipe no one reads until it ends, and block.
            for name in self._commands:
                self._logs[name] = self._exit.enter_context(tempfile.TemporaryFile("w+b"))
            self._exit.callback(self._keep_failures)  # before the files close, after ...
            self._exit.callback(self._stop_running)  # ... every worker has ended
            env = package_env()
            for name, command in self._commands.items():
                self.processes[name] = subprocess.Popen(
                    command, env=env, stdout=subprocess.DEVNULL, stderr=self._logs[name]
                )
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.__exit__(*exc)

    def running(self, name: str) -> bool:
        return self.processes[name].poll() is None

    def wait(
        self,
        done: Callable[[], int],
        total: int,
        on_progress: Callable[[int, int], None] | None,
        until: Callable[[], bool] | None = None,
    ) -> None:
        """Until every worker has ended or ``until()`` holds; where one fails, the others are
        stopped (the second copy would wait for checkpoints that never come)."""
        workers = list(self.processes.values())
        while True:
            if on_progress:
                on_progress(done(), total)
            if all(w.poll() is not None for w in workers) or (until is not None and until()):
                return
            if any(w.poll() not in (None, 0) for w in workers):
                self._stop_running()
                return
            time.sleep(POLL_S)

    def finish(self, name: str, timeout_s: float) -> str | None:
        """Wait for the named worker to end, stopping it past ``timeout_s``; None where it
        ended well, else why not."""
        process = self.processes[name]
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._stopped.add(name)
            _stop([process])
            return f"it ran past {timeout_s:.0f} s and was stopped"
        return self.failures().get(name)

    def failures(self) -> dict[str, str]:
        """For each worker that ended with an error on its own (not one stopped here), the last
        line it wrote on stderr."""
        if self._kept is not None:
            return dict(self._kept)
        failed = {}
        for name, w in self.processes.items():
            if w.poll() in (None, 0) or name in self._stopped:
                continue
            log = self._logs[name]
            log.seek(0)
            err = log.read().decode("utf-8", errors="replace").strip()
            failed[name] = err.splitlines()[-1] if err else f"exit code {w.returncode}"
        return failed

    def _keep_failures(self) -> None:
        self._kept = self.failures()

    def _stop_running(self) -> None:
        running = {name: w for name, w in self.processes.items() if w.poll() is None}
        self._stopped.update(running)
        _stop(list(running.values()))


def _stop(workers: list[subprocess.Popen]) -> None:
    for w in workers:
        w.terminate()
    for w in workers:
        w.wait()
