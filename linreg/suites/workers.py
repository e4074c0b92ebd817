"""Worker processes of the repro suites (the copies, the resume worker, a replay), for the
tutorial's matrix and a target's alike.

The package is put on the children's PYTHONPATH so that a checkout runs without being installed;
SIGTERM stops every child; where one worker of several fails, the others are stopped rather than
left waiting for files that never come.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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


def run_workers(
    commands: dict[str, list[str]],
    done: Callable[[], int],
    total: int,
    on_progress: Callable[[int, int], None] | None,
) -> dict[str, str]:
    """Run the named commands side by side until all end; return, for each worker that failed
    on its own (not one stopped because another failed), the last line it wrote on stderr."""
    env = package_env()
    stopped: list[subprocess.Popen] = []
    with sigterm_raises():
        workers = [
            subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            for command in commands.values()
        ]
        try:
            while True:
                if on_progress:
                    on_progress(done(), total)
                if all(w.poll() is not None for w in workers):
                    break
                if any(w.poll() not in (None, 0) for w in workers):
                    # One failed: the resume worker would wait for checkpoints that never come.
                    stopped = [w for w in workers if w.poll() is None]
                    _stop(stopped)
                    break
                time.sleep(POLL_S)
        except BaseException:
            _stop(workers)
            raise
    failed = {}
    for name, w in zip(commands, workers, strict=True):
        err = w.stderr.read() if w.stderr else ""
        if w.returncode != 0 and w not in stopped:
            failed[name] = (
                err.strip().splitlines()[-1] if err.strip() else f"exit code {w.returncode}"
            )
    return failed


def _stop(workers: list[subprocess.Popen]) -> None:
    for w in workers:
        w.terminate()
    for w in workers:
        w.wait()
