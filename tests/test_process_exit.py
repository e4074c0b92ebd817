"""linreg's processes end with their objects frozen (linreg.process_exit), so that the
interpreter's last collections skip what torch left: the command line and a worker alike. Run
as their `python -m` would run them, with an atexit hook that says what was frozen by then."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# Registered first, so it runs last among the atexit handlers: after sys.exit.
FROZEN_AT_EXIT = (
    "import atexit, gc, runpy, sys; "
    "atexit.register(lambda: print('frozen', gc.get_freeze_count(), flush=True)); "
    "sys.argv = sys.argv[1:]; runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)"
)


def frozen_at_exit(module: str, *args: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", FROZEN_AT_EXIT, module, *args], cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    word, count = done.stdout.strip().splitlines()[-1].split()
    assert word == "frozen", done.stdout[-2000:]
    return int(count)


def test_a_command_ends_with_its_objects_frozen():
    assert frozen_at_exit("linreg", "env") > 0


@pytest.mark.parametrize("worker", ["replay_worker", "target_replay_worker"])
def test_a_worker_ends_with_its_objects_frozen(tmp_path, worker):
    jobs = tmp_path / "jobs.json"
    jobs.write_text("[]")
    assert frozen_at_exit(f"linreg.suites.{worker}", str(jobs), str(tmp_path)) > 0
