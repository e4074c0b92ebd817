"""Where the instructions went, counted for real: a planted slowdown is named at the top of
its function list, and two unchanged counts list no function beyond noise.

The counts are the probes of the session's one real bisect (tests.real_bisect): the train case
counted under Valgrind from each commit's own worktree, as two checkouts of a change would be.
The good commit is the clean code; the planted commit and the last one hold the same planted
code in two folders (an A/A across folders, which moves CPython's allocator and attribute caches
a little)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from linreg.cli import main
from linreg.compare.explain_cases import explain_case
from linreg.results.load import load_speed_verdict
from linreg.results.profiles import missing_annotate
from linreg.results.speed_verdict import INCLUSIVE
from tests.real_bisect import COMMITS, PLANTED_AT, real_bisect

TRAIN = "bench_train.py::bench_train[cpu-float32-seed42-eager]"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("valgrind") is None or missing_annotate() is not None,
        reason="valgrind (callgrind, callgrind_annotate) not installed",
    ),
]


@pytest.fixture(scope="module")
def counted(request) -> dict[str, Path]:
    found = real_bisect(request)
    assert found.exit_code == 0, found.printed[-2000:]
    return {"clean": found.probe(1), "planted": found.probe(PLANTED_AT),
            "planted-again": found.probe(COMMITS)}  # fmt: skip


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
    result = explain_case(counted["planted"], counted["planted-again"], TRAIN)
    assert abs(result.ratio - 1) < 0.005
    assert result.changes.functions == ()
    assert result.changes.note.startswith("no function changed beyond noise")
