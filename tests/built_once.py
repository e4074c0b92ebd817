"""What several test files need built the same way, built once per test session: one folder per
name, made by the first test process that asks while the others wait for it (pytest-xdist's
workers share their base temporary folder's parent), then read by all.

A folder made here is shared: a test that writes into what it was given copies it first."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock  # torch's own requirement

_DONE = ".built"


def hide_xdist_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under pytest-xdist a worker's PYTEST_XDIST_* variables reach every process a test starts,
    and pytest-benchmark switches itself off in what it takes for an xdist worker: the bench
    suite's children would time nothing and write no file."""
    for name in [n for n in os.environ if n.startswith("PYTEST_XDIST_")]:
        monkeypatch.delenv(name)


def built_once(request: pytest.FixtureRequest, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name``, filled by ``build(folder)`` in the first process of this session
    that asks for it. A build that failed is not kept: the next process to ask builds again."""
    factory = request.getfixturevalue("tmp_path_factory")
    base = factory.getbasetemp()
    # Under pytest-xdist each worker's base folder lies in the session's own; alone, the base
    # is the session's (its parent holds other sessions', which must not be shared).
    root = base.parent if hasattr(request.config, "workerinput") else base
    folder = root / f"built-once-{name}"
    with FileLock(str(folder) + ".lock"):
        if not (folder / _DONE).exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            # Whichever test asks first builds, maybe from a fixture set up before the autouse
            # one that hides these (tests/conftest.py).
            with pytest.MonkeyPatch.context() as env:
                hide_xdist_variables(env)
                build(folder)
            (folder / _DONE).touch()
    return folder
