"""Where the instructions went, counted for real: a planted slowdown is named at the top of
its function list, and two unchanged counts list no function beyond noise.

Three counts of the train case under Valgrind (about 45 s each here), each from its own copy
of the checkout, as two checkouts of a change would be: the clean tree twice (an A/A across
two folders, which moves CPython's allocator and attribute caches a little) and one whose
eager step does extra tensor ops every epoch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from linreg.cli import main
from linreg.compare.explain_cases import explain_case
from linreg.results.load import load_speed_verdict
from linreg.results.profiles import missing_annotate
from linreg.results.speed_verdict import INCLUSIVE
from tests.built_once import built_once

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN = "bench_train.py::bench_train[cpu-float32-seed42-eager]"
PLANT = (
    "            train_losses.append(loss.detach())\n",
    "            for _ in range(3):  # planted: extra tensor ops every epoch\n"
    "                torch.exp(X_train).sum()\n"
    "            train_losses.append(loss.detach())\n",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("valgrind") is None or missing_annotate() is not None,
        reason="valgrind (callgrind, callgrind_annotate) not installed",
    ),
]


def _checkout_copy(target: Path, planted: bool = False) -> Path:
    """The package, the bench suite and the project file: what counting needs."""
    for part in ("linreg", "bench"):
        shutil.copytree(REPO_ROOT / part, target / part,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(REPO_ROOT / "pyproject.toml", target)
    if planted:
        eager = target / "linreg" / "engines" / "eager.py"
        text = eager.read_text()
        assert PLANT[0] in text
        eager.write_text(text.replace(*PLANT, 1))
    return target


def _child_environment(root: Path) -> dict[str, str]:
    """This environment without pytest-xdist's worker variables: the module-scoped fixture
    runs before conftest's function-scoped one that drops them, and pytest-benchmark switches
    itself off in what it takes for an xdist worker (exit 0, no file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    return {**env, "PYTHONPATH": str(root)}


def _count_train(root: Path, out: Path) -> Path:
    """The quick profile's train case, counted, stored as one JSON file with its profile."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "--quick", "--kinds=train",
         "--instructions=yes", f"--benchmark-json={out}",
         f"--benchmark-storage=file://{root / 'storage'}", "-p", "no:cacheprovider", "-q"],
        cwd=root, env=_child_environment(root),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def counted(request) -> dict[str, Path]:
    # Counted once a session, whichever pytest-xdist worker asks first: the minutes under
    # Valgrind are not paid again where the module's tests are split between workers.
    names = ("clean", "clean-again", "planted")

    def build(base: Path) -> None:
        for name in names:
            _count_train(_checkout_copy(base / name, planted=name == "planted"),
                         base / f"{name}.json")  # fmt: skip

    base = built_once(request, "explain-valgrind-counts", build)
    return {name: base / f"{name}.json" for name in names}


def test_a_planted_slowdown_fails_compare_and_tops_its_function_list(
    counted, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "80")
    out = tmp_path / "speed.json"
    code = main(["compare", str(counted["clean"]), str(counted["planted"]),
                 "--fail-on-regression", "10%", "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 1
    assert "Where the instructions went: train, slower" in printed
    [case] = [c for c in load_speed_verdict(out).cases if c.metric == "instructions"]
    inclusive = [f for f in case.functions if f.kind == INCLUSIVE]
    # The planted ops' own frames lead: torch's Python bindings of sum and exp and below.
    top = inclusive[0].function
    assert "THPVariable_sum" in top or "THPVariable_exp" in top, top
    named = " ".join(f.function for f in inclusive[:15])
    assert "THPVariable_exp" in named and "at::_ops::exp::call" in named
    assert all(f.delta > 0 for f in inclusive[:3])


def test_two_unchanged_counts_list_no_function_beyond_noise(counted):
    result = explain_case(counted["clean"], counted["clean-again"], TRAIN)
    assert abs(result.ratio - 1) < 0.005
    assert result.changes.functions == ()
    assert result.changes.note.startswith("no function changed beyond noise")
