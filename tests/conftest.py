from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from linreg.config import TrainConfig
from linreg.engines import train
from linreg.run import Run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False on this machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def children_are_not_xdist_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.built_once import hide_xdist_variables

    hide_xdist_variables(monkeypatch)


@pytest.fixture(autouse=True)
def results_root_is_given_back():
    """`linreg --results DIR` sets LINREG_RESULTS for the process it runs in (so that the
    command's children write there too); a test calling main() in this process must not leave
    it to the next test."""
    from linreg.paths import RESULTS_VARIABLE

    saved = os.environ.get(RESULTS_VARIABLE)
    yield
    if saved is None:
        os.environ.pop(RESULTS_VARIABLE, None)
    else:
        os.environ[RESULTS_VARIABLE] = saved


CHECKOUT_RESULTS = Path(__file__).resolve().parent.parent / "results"


@pytest.fixture(scope="session", autouse=True)
def results_folder_is_left_as_it_was():
    """Tests write to temporary folders only: nothing new may appear in the checkout's results/
    (committed or ignored), whichever test would have put it there."""
    before = set(CHECKOUT_RESULTS.rglob("*"))
    yield
    left = sorted(str(p) for p in set(CHECKOUT_RESULTS.rglob("*")) - before)
    assert not left, f"tests left files in the checkout's results/: {left[:5]}"


@pytest.fixture(scope="session")
def tutorial_run() -> Run:
    """The default config (the tutorial's, seed 42) trained once per test session."""
    return train(TrainConfig())


@pytest.fixture(scope="session", autouse=True)
def shared_browser_is_closed():
    """tests.browser starts one Chromium per test process: closed when the session ends."""
    yield
    from tests.browser import close_browser

    close_browser()


# The repro command several test files read the result set of (pairs, reports, history).
REPRO_SEED_42 = ("repro", "--seeds", "42", "--threads", "1", "--no-golden")


@pytest.fixture(scope="session")
def repro_set(request) -> Path:
    """One result set of `linreg repro --seeds 42 --threads 1 --no-golden` for the session
    (about a minute of worker processes on a loaded machine). Shared: copy it to change it."""
    from linreg.cli import main
    from tests.built_once import built_once

    def build(out: Path) -> None:
        assert main([*REPRO_SEED_42, "--out", str(out / "repro")]) == 0

    made = built_once(request, "repro-seed42", build) / "repro"
    (found,) = [p for p in made.iterdir() if p.is_dir()]
    return found


@pytest.fixture(scope="session")
def quick_train_bench(request) -> tuple[Path, str]:
    """`pytest bench --quick --kinds=train --instructions=no` of this checkout, in its own
    process, once a session: the JSON file it wrote and what it printed. Shared: read only."""
    import subprocess
    import sys

    from tests.built_once import built_once

    root = Path(__file__).resolve().parent.parent

    def build(out: Path) -> None:
        # Without pytest-xdist's worker variables (this runs before the autouse fixture drops
        # them): pytest-benchmark switches itself off where it sees them.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "bench", "--quick", "--kinds=train",
             "--instructions=no", "-p", "no:cacheprovider",
             f"--benchmark-json={out / 'bench.json'}",
             f"--benchmark-storage=file://{out / 'storage'}"],
            cwd=root, env={**env, "PYTHONPATH": str(root)},
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        (out / "stdout.txt").write_text(done.stdout)

    made = built_once(request, "quick-train-bench", build)
    return made / "bench.json", (made / "stdout.txt").read_text()
