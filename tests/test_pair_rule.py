"""One rule for a pair of runs: what it must reach follows from what differs between its
configs (and stacks), and `linreg repro`, `linreg compare` and the report judge a pair alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from linreg.cli import main
from linreg.compare.pair_rule import STACK, TRAINING, judge_pair, pair_kind, same_stack
from linreg.compare.runs import compare_runs
from linreg.compare.sets import judge_run_pairs
from linreg.config import TrainConfig
from linreg.results.load import load_checks, load_run
from linreg.run import Run
from linreg.suites.repro_options import label
from linreg.tolerance import default_tolerances

BASE = TrainConfig(threads=1)


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"dtype": "float64"}, "dtype"),
        ({"threads": None}, "threads"),
        ({"engine": "compiled"}, "engine"),
        ({"device": "cuda:0"}, "device"),
        ({"tf32": True}, "tf32"),
        ({"deterministic": False}, "nondeterministic"),
        # Several axes: named as repro names a run's pair, the device before the dtype.
        ({"device": "cuda", "dtype": "float64"}, "device"),
        ({"seed": 0}, TRAINING),
        ({"lr": 0.02}, TRAINING),
        ({}, "determinism"),
    ],
)  # fmt: skip
def test_a_pair_is_named_by_what_differs(change, kind):
    assert pair_kind(BASE.replace(**change), BASE) == kind


def test_one_config_on_two_stacks_is_asked_within_tolerance_and_on_one_bit_identical(
    tutorial_run,
):
    other = {**tutorial_run.environment, "torch": "2.14.1"}
    assert not same_stack(other, tutorial_run.environment)
    assert same_stack(dict(tutorial_run.environment), tutorial_run.environment)
    assert pair_kind(BASE, BASE, on_same_stack=False) == STACK
    # A run one ULP off in one loss: within tolerance, not the same bits.
    record = json.loads(json.dumps(tutorial_run.to_dict()))
    loss = record["history"]["train_loss"]
    loss[300] = float(np.nextafter(loss[300], 1.0))
    moved = Run.from_dict(record)
    c = compare_runs(moved, tutorial_run, default_tolerances())
    assert c.level == "b"
    here = judge_pair(c, moved.config, tutorial_run.config, on_same_stack=True)
    there = judge_pair(c, moved.config, tutorial_run.config, on_same_stack=False)
    assert (here.requirement, here.holds) == ("a", False)
    assert (there.requirement, there.holds) == ("b", True)


def test_a_pair_whose_twin_is_not_given_is_asked_what_can_be_judged_and_says_so(tutorial_run):
    from linreg.engines import train
    from linreg.report.pair_words import twin_missing_words

    # float32 on all threads against float64 on one: a threads pair, which needs agreement as
    # long as its twin (float32 on one thread) agrees with float64; that twin is not given.
    reference = train(TrainConfig(dtype="float64", threads=1))
    c = compare_runs(tutorial_run, reference, default_tolerances())
    judged = judge_pair(c, tutorial_run.config, reference.config, on_same_stack=True)
    assert (judged.kind, judged.twin_missing, judged.requirement) == ("threads", True, "c")
    assert judged.holds  # the same outcome, as repro holds the dtype pair
    assert "asked for the same outcome, as a dtype pair" in twin_missing_words("c")
    assert "asked for the whole run within tolerance" in twin_missing_words("b-horizon")


def test_compare_judges_each_pair_repro_checked_as_repro_did(repro_set):
    runs: dict[str, list] = {}
    for copy in ("first", "second"):
        for path in sorted((repro_set / copy).glob("*.json")):
            run = load_run(path)
            runs.setdefault(label(run.config), []).append(run)
    checks = [c for c in load_checks(repro_set / "checks.json").checks
              if c.kind in ("determinism", "consistency")]  # fmt: skip
    assert {c.pair for c in checks} == {"determinism", "dtype"}
    for check in checks:
        subject = runs[check.subject][0]
        against = runs[check.subject][1] if check.kind == "determinism" else runs[check.against][0]
        [judged] = judge_run_pairs([(("r", against), ("c", subject))], default_tolerances())
        assert (judged.kind, judged.requirement, judged.holds) == (
            check.pair,
            check.required,
            check.holds,
        ), check.subject


def test_compare_of_a_float32_and_a_float64_run_holds_as_repro_counts_it(repro_set, capsys):
    runs = {label(load_run(p).config): p for p in (repro_set / "first").glob("*.json")}
    f32 = runs["cpu float32 seed 42 threads 1 eager"]
    f64 = runs["cpu float64 seed 42 threads 1 eager"]
    assert main(["compare", str(f64), str(f32), "--no-replay"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "compare: OK: numerics hold (another dtype: outcome-equivalent needed, reached)" in out
    assert "FAIL" not in out


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory) -> dict[str, Path]:
    from linreg.jobs.training import train_to_folder

    root = tmp_path_factory.mktemp("runs")
    return {
        dtype: train_to_folder(TrainConfig(dtype=dtype), out_dir=root / dtype).folder
        for dtype in ("float64", "float32", "bfloat16")
    }


def test_compare_fails_a_pair_below_what_it_needs_and_says_what_that_was(run_folders, capsys):
    f64, bf16 = run_folders["float64"], run_folders["bfloat16"]
    assert main(["compare", str(f64), str(bf16), "--no-replay"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "compare: FAIL:" in err
    assert "(another dtype) needs outcome-equivalent: level d (different)" in err


def test_a_report_of_two_run_folders_answers_their_comparison(run_folders, tmp_path):
    from linreg.report.answer import FAIL, PASS
    from linreg.report.build import collect_inputs, write_report
    from linreg.report.run_pairs import given_run_pairs, run_pairs_answer
    from linreg.report.verdict import verdicts
    from linreg.results.load import load_result
    from linreg.results.walk import expand

    inputs = collect_inputs([run_folders["float64"], run_folders["float32"]])
    reproduces = verdicts(inputs).reproduces
    assert reproduces.status == PASS
    assert reproduces.headline.startswith(
        "Yes: float32 against float64 reaches what another dtype needs (the same outcome): "
        "within tolerance to epoch 186"
    )
    [line] = reproduces.lines
    # Where they part, replayed, as linreg compare says it.
    assert "first difference at epoch 0" in line.detail
    assert "where they part: epoch 185: the residual of sample" in line.detail
    page = write_report(inputs, tmp_path / "r.html").path.read_text()
    assert 'id="runs-compared"' in page and "Not checked" not in page
    # A pair short of what its kind needs fails the answer, by the rule compare fails it by.
    sources = [(str(p), [load_result(f) for f in expand(p)])
               for p in (run_folders["float64"], run_folders["bfloat16"])]  # fmt: skip
    failing = run_pairs_answer(given_run_pairs(sources, replay=False))
    assert failing.status == FAIL
    assert failing.headline.startswith(
        "No: bfloat16 against float64 falls short of what another dtype needs (the same outcome)"
    )
