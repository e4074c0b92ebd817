from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from linreg.cli import main
from linreg.cli.console import console
from linreg.compare.timing import compare_timings, parse_threshold

CASE = "bench/test_train.py::test_eager_train[cpu-float32]"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Tables fold long cells at 80 columns; the assertions read whole phrases."""
    monkeypatch.setattr(console, "width", 300)


def rounds(seed: int, median_seconds: float, n: int = 40) -> list[float]:
    """Rounds as a shared machine gives them: lognormal noise with a few long outliers."""
    rng = random.Random(seed)
    data = [median_seconds * rng.lognormvariate(0, 0.05) for _ in range(n)]
    for i in range(0, n, 10):
        data[i] *= 1.5
    return data


def benchmark_json(path: Path, data: list[float]) -> Path:
    """A pytest-benchmark file as `--benchmark-json` writes it with raw data saved."""
    path.write_text(
        json.dumps(
            {
                "machine_info": {"node": "ci", "python_version": "3.12"},
                "commit_info": {},
                "benchmarks": [
                    {"fullname": CASE, "name": "test_eager_train", "stats": {"data": data}}
                ],
                "datetime": "2026-11-29T00:00:00",
                "version": "4.0.0",
            }
        )
    )
    return path


def test_thirty_percent_slower_is_a_significant_regression() -> None:
    t = compare_timings(CASE, rounds(1, 0.010), rounds(2, 0.013))
    assert t.verdict == "slower" and t.p_value < 0.001
    assert t.ratio == pytest.approx(1.3, rel=0.05)
    assert t.is_regression(0.10)
    assert not t.is_regression(0.50)


def test_the_same_code_measured_twice_is_no_significant_change() -> None:
    t = compare_timings(CASE, rounds(1, 0.010), rounds(2, 0.010))
    assert t.verdict == "no significant change"
    assert not t.is_regression(0.10)


def test_faster_is_not_a_regression() -> None:
    t = compare_timings(CASE, rounds(1, 0.013), rounds(2, 0.010))
    assert t.verdict == "faster" and not t.is_regression(0.0)


@pytest.mark.parametrize(("text", "value"), [("10%", 0.10), ("0.25", 0.25), (" 5 %", 0.05)])
def test_threshold_parses(text: str, value: float) -> None:
    assert parse_threshold(text) == pytest.approx(value)


def test_bad_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="expected a percentage"):
        parse_threshold("ten")


def test_cli_flags_a_slowdown_with_exit_1(tmp_path, capsys) -> None:
    a = benchmark_json(tmp_path / "a.json", rounds(1, 0.010))
    b = benchmark_json(tmp_path / "b.json", rounds(2, 0.013))
    assert main(["compare", str(a), str(b), "--fail-on-regression", "10%"]) == 1
    out = capsys.readouterr().out
    assert "slower (regression)" in out and "FAIL" in out


def test_cli_a_a_comparison_passes(tmp_path, capsys) -> None:
    a = benchmark_json(tmp_path / "a.json", rounds(1, 0.010))
    b = benchmark_json(tmp_path / "b.json", rounds(2, 0.010))
    assert main(["compare", str(a), str(b), "--fail-on-regression", "10%"]) == 0
    assert "no significant change" in capsys.readouterr().out


def test_cli_slowdown_without_the_flag_is_reported_not_failed(tmp_path, capsys) -> None:
    a = benchmark_json(tmp_path / "a.json", rounds(1, 0.010))
    b = benchmark_json(tmp_path / "b.json", rounds(2, 0.013))
    assert main(["compare", str(a), str(b)]) == 0
    assert "slower" in capsys.readouterr().out


def test_cli_bad_threshold_is_exit_2(tmp_path, capsys) -> None:
    a = benchmark_json(tmp_path / "a.json", rounds(1, 0.010))
    assert main(["compare", str(a), str(a), "--fail-on-regression", "lots"]) == 2
    assert "--fail-on-regression" in capsys.readouterr().err
