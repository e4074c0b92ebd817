"""The verdict panel's answers and the words and numbers the report uses, without a browser."""

import json
from pathlib import Path

import pytest

from linreg.errors import ResultSetError
from linreg.report.answer import FAIL, INFO, NONE, PASS
from linreg.report.build import build_report
from linreg.report.checks import comparison_figures, reached_words, sorted_checks
from linreg.report.figures import group_identical_curves
from linreg.report.regression import regressed_answer
from linreg.report.speed_words import summary
from linreg.report.verdict import reproduces_answer
from linreg.results import kinds
from linreg.results.load import load_result, load_speed_verdict
from linreg.results.repro_checks import ReproCheck
from linreg.results.run_comparison import Comparison
from linreg.results.speed_verdict import SpeedVerdict
from linreg.run import LossCurve
from linreg.units import data_size, ratio, seconds, sig


def comparison(level: str, horizon: int | None = None, dtypes_differ: bool = False) -> dict:
    """A checks.json comparison with the figures the report reads."""
    first = None if level == "a" else (horizon if horizon is not None else 0)
    return {
        "candidate": "cpu float32 seed 42 threads 1 eager",
        "reference": "cpu float64 seed 42 threads 1 eager",
        "level": level,
        "horizon": horizon,
        "first_bitwise_difference_epoch": first,
        "max_rel_before_horizon": 0.0 if level == "a" else 8.7e-5,
        "final_candidate": {"weight": 0.79867, "bias": 0.2095, "train_loss": 0.00253},
        "final_reference": {"weight": 0.79487, "bias": 0.2085, "train_loss": 0.00263},
        "outcome_bound": {"steps": 3, "weight": 0.0234, "bias": 0.03, "loss": 0.048},
        "quantities": {
            "train_loss": {
                "max_abs": 1e-3,
                "max_rel": 1.2,
                "max_ulp": 15801436,
                "bitwise": False,
                "within_tolerance": level in "ab",
            },
            "parameters": {
                "max_abs": 4e-3,
                "max_rel": 0.017,
                "max_ulp": 234955,
                "bitwise": False,
                "within_tolerance": level in "ab",
            },
        },
        "config_diff": {"dtype": ["float32", "float64"]} if dtypes_differ else {},
    }


def check(kind: str, holds: bool, level: str = "a", horizon: int | None = None) -> ReproCheck:
    return ReproCheck.from_dict(
        {
            "kind": kind,
            "pair": kind,
            "subject": "cpu float32 seed 42 threads 1 eager",
            "against": f"/refs/cpu-float32-seed42-threads1-{kind}.json",
            "required": "b" if kind == "golden" else "a",
            "holds": holds,
            "reason": f"level {level}",
            "comparison": comparison(level, horizon),
        }
    )


def test_a_failing_check_is_named_first_with_its_level_in_words():
    checks = [("set", check("determinism", True)), ("set", check("golden", False, "c", 300))]
    answer = reproduces_answer(checks)
    assert answer.status == FAIL
    assert answer.headline == "No: 1 of 2 checks fails"
    first = answer.lines[0]
    assert first.status == FAIL
    assert first.text == (
        "✗ golden: cpu float32 seed 42 threads 1 eager vs cpu-float32-seed42-threads1-golden.json"
    )
    assert "required within tolerance over the whole run" in first.detail
    assert "reached within tolerance to epoch 300, then the same outcome" in first.detail
    assert "bit-identical until epoch 300" in first.detail
    assert sorted_checks(checks)[0].kind == "golden"


def test_all_checks_holding_is_said_with_their_count():
    checks = [("set", check("determinism", True)), ("set", check("golden", True))]
    answer = reproduces_answer(checks)
    assert (answer.status, answer.headline) == (PASS, "Yes: all 2 checks hold")
    assert "determinism 1 of 1 · golden 1 of 1" in answer.lines[-1].text


def test_an_unfinished_repro_set_is_not_a_pass():
    answer = reproduces_answer([], ["20261129T000000Z-abcd"])
    assert answer.status == FAIL and "did not finish" in answer.headline


def test_no_repro_set_is_not_checked_rather_than_passed():
    assert reproduces_answer([]).status == NONE


@pytest.mark.parametrize(
    ("level", "horizon", "words"),
    [
        ("a", None, "bit-identical"),
        ("b", None, "within tolerance over the whole run"),
        ("c", 186, "within tolerance to epoch 186, then the same outcome"),
        ("d", 5, "within tolerance to epoch 5, then a different outcome"),
    ],
)
def test_levels_are_said_in_words(level, horizon, words):
    assert reached_words(level, horizon) == words


def test_ulps_are_shown_only_within_one_dtype_and_within_tolerance():
    def figures(*args, **kwargs) -> str:
        return comparison_figures(Comparison.from_dict(comparison(*args, **kwargs)))

    assert "15,801,436 ulp" in figures("b")
    assert "ulp" not in figures("b", dtypes_differ=True)
    assert "ulp" not in figures("c", 186)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (seconds(8.0e-6), "8 µs"),
        (seconds(7.7e-4, 2), "770 µs"),
        (seconds(0.30778), "308 ms"),
        (seconds(2.5), "2.5 s"),
        (data_size(330_313_728), "330 MB"),
        (ratio(1.0), "×1.00"),
        (ratio(365.2), "×365"),
        (ratio(0.00411), "×0.00411"),
        (sig(1.2438287545280429), "1.24"),
        (sig(None), "–"),
    ],
)
def test_numbers_read_in_si_units_and_significant_digits(text, expected):
    assert text == expected


def test_bit_identical_curves_share_one_line():
    same = LossCurve((0.3, 0.2, 0.1), (0,), (0.25,))
    other = LossCurve((0.3, 0.2, 0.15), (0,), (0.25,))
    groups = group_identical_curves(
        [
            ("cpu float32 seed 42 threads all eager", same),
            ("cpu float64 seed 42 threads 1 eager", other),
            ("cpu float32 seed 42 threads 1 eager", same),
        ]
    )
    assert [g.label for g in groups] == [
        "cpu float32 seed 42 eager (2 runs, bit-identical: threads 1, threads all)",
        "cpu float64 seed 42 threads 1 eager",
    ]


def speed_verdict(verdict: str = "regressed", gating: bool = True) -> dict:
    """A speed-verdict file's content, as linreg writes it."""
    return kinds.envelope(
        kinds.SPEED_VERDICT,
        {
            "reference": "amd-epyc-2c session 20261129 (8 processes)",
            "candidate": "amd-epyc-2c session 20261204 (8 processes)",
            "reference_series": "amd-epyc-2c, torch 2.13.0, 2026-11-29",
            "candidate_series": "amd-epyc-2c, torch 2.13.0, 2026-12-04",
            "same_machine": True,
            "gating": gating,
            "interleaved": False,
            "confidence": 0.99,
            "verdict": verdict,
            "notes": [],
            "cases": [
                {"case": "bench_inference.py::bench_inference[cpu-float32-seed42-eager-n10]",
                 "metric": "wall", "outcome": "no change", "ratio": 1.0, "ci": [0.98, 1.03],
                 "confidence": 0.99, "p": 0.6, "samples": [8, 8], "noise_floor": 0.04,
                 "threshold": 0.1, "reference": 1e-5, "candidate": 1e-5},
                {"case": "bench_train.py::bench_train[cpu-float32-seed42-eager]",
                 "metric": "wall", "outcome": "slower", "ratio": 1.31, "ci": [1.2, 1.4],
                 "confidence": 0.995, "p": 0.0002, "samples": [8, 8], "noise_floor": 0.04,
                 "threshold": 0.1, "reference": 0.04, "candidate": 0.0524},
                {"case": "bench_copy.py::bench_copy[cpu]", "metric": "wall",
                 "outcome": "undecided", "ratio": 1.1, "ci": None, "p": None, "samples": [3, 3],
                 "noise_floor": None, "threshold": 0.1, "reference": 0.08, "candidate": 0.088,
                 "reason": "3 vs 3 processes cannot reach 99 % confidence",
                 "processes_needed": 6},
            ],
            "gate": None,
        },
    )  # fmt: skip


def typed(data: dict) -> SpeedVerdict:
    return SpeedVerdict.from_dict(data)


def test_a_regressed_verdict_is_red_with_the_slower_case_first():
    answer = regressed_answer([("verdict.json", typed(speed_verdict()))])
    assert answer.status == FAIL
    assert answer.headline == (
        "Yes: slower: 1 of 3 cases slower: train float32 seed42 eager (wall time ×1.31)"
    )
    # The sides first, then each case in the words of its parameters (not its pytest id).
    assert (
        answer.lines[0].text == "amd-epyc-2c, torch 2.13.0, 2026-12-04 against "
        "amd-epyc-2c, torch 2.13.0, 2026-11-29"
    )
    cases = answer.lines[1:]
    assert cases[0].text == "slower: train float32 seed42 eager"
    assert cases[0].status == FAIL
    assert cases[0].detail == (
        "wall time, ×1.31 [1.2, 1.4] at 99.5 %, p 0.0002, 8 vs 8 processes, "
        "between-session spread 4%"
    )
    assert cases[1].text.startswith("undecided (3 vs 3")
    assert cases[1].detail.endswith("about 6 processes a side would decide")


def test_a_slower_case_without_the_gate_is_named_but_not_red():
    answer = regressed_answer([("verdict.json", typed(speed_verdict(gating=False)))])
    assert answer.status == INFO
    assert answer.headline.startswith("Slower, reported without gating: 1 of 3 cases slower")


@pytest.mark.parametrize(
    ("verdict", "status", "headline"),
    [
        ("undecided", NONE, "Undecided: "),
        ("no regression", PASS, "No regression: "),
        ("information", INFO, "Information only: "),
    ],
)
def test_each_verdict_heads_its_summary(verdict, status, headline):
    data = speed_verdict(verdict)
    outcome = {"undecided": "undecided", "no regression": "no change"}.get(verdict, "slower")
    data["cases"] = [{**case, "outcome": outcome} for case in data["cases"]]
    data["same_machine"] = verdict != "information"
    record = typed(data)
    answer = regressed_answer([("verdict.json", record)])
    assert answer.status == status
    assert answer.headline == headline + summary(record).removeprefix(f"{verdict}: ")


def test_an_older_speed_verdict_no_regression_is_read_as_undecided(tmp_path: Path):
    old = {"schema_version": 1, "kind": "speed-verdict", "reference": "a", "candidate": "b",
           "same_machine": True, "gating": True, "verdict": "no regression", "summary": "x",
           "notes": [], "cases": [{"case": "c", "metric": "wall", "ratio": 1.0, "ci": [0.9, 1.1],
                                   "p": 0.5, "verdict": "no significant change"}]}  # fmt: skip
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(old))
    loaded = load_speed_verdict(path)
    assert loaded.verdict == "undecided" and loaded.cases[0].outcome == "undecided"


def test_wall_time_across_machines_is_information_not_a_failure():
    answer = regressed_answer([("verdict.json", typed(speed_verdict(gating=False)))])
    assert answer.status != FAIL


def test_no_speed_verdict_says_there_is_no_baseline_for_the_machine():
    answer = regressed_answer([], ["intel-xeon-2c"])
    assert answer.status == NONE
    assert answer.headline.startswith("No baseline for machine intel-xeon-2c")


def test_a_speed_verdict_file_is_read_and_shown(tmp_path: Path):
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(speed_verdict()))
    loaded = load_result(path)
    assert loaded.kind == kinds.SPEED_VERDICT
    assert loaded.value.verdict == "regressed"
    summary = build_report([tmp_path], tmp_path / "report.html")
    assert not summary.ok
    page = summary.path.read_text()
    assert 'data-verdict="regressed" data-status="fail"' in page
    assert "Yes: slower" in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"verdict": "maybe"}, "verdict must be one of"),
        ({"gating": "yes"}, "gating must be true or false"),
        ({"cases": [{"case": "x", "metric": "cycles", "verdict": "slower"}]}, "metric must be"),
        (
            {
                "cases": [
                    {
                        "case": "x",
                        "metric": "wall",
                        "outcome": "slower",
                        "verdict": "slower",
                        "ci": [1],
                    }
                ]
            },
            "ci must",
        ),
        (
            {"cases": [{"case": "x", "metric": "wall", "outcome": "same", "verdict": "same"}]},
            "outcome must be",
        ),
    ],
)
def test_a_malformed_speed_verdict_is_refused_by_name(tmp_path: Path, change, message):
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps({**speed_verdict(), **change}))
    with pytest.raises(ResultSetError, match=f"verdict.json: malformed speed-verdict .*{message}"):
        load_speed_verdict(path)
