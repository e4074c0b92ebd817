"""Steps in one series (`linreg.compare.steps`) and where a case stepped over a machine's
sessions (`linreg.compare.over_time.case_series`): planted steps with known sessions and ratios,
flat noise that must show none, and properties that hold for any series. Speed lives in
bench/steps_scale.py, not here."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linreg.compare.over_time import MAX_STEPS, case_series
from linreg.compare.steps import ALPHA, MIN_STEP, find_steps
from linreg.results.bench_file import BenchCase, BenchFile
from linreg.results.history import history_of

CASE = "bench_train.py::bench_train[cpu-float32-seed42-eager]"
# Noise, step sizes and lengths are drawn, but a property that holds with probability
# 1 - 1e-5 per example must not fail CI by chance: the same examples every run.
STATISTICAL = settings(derandomize=True, deadline=None, max_examples=150)


def series(levels: list[tuple[int, float]], noise: float, seed: int) -> np.ndarray:
    """Sessions in runs of (count, level), each value times log-normal noise of ``noise``."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([np.full(count, level) for count, level in levels])
    return values * np.exp(rng.normal(0.0, noise, len(values)))


def where(steps) -> list[tuple[int, float]]:
    return [(s.index, round(s.ratio, 2)) for s in steps]


def test_a_planted_step_is_found_at_its_session_with_its_ratio():
    [step] = find_steps(series([(120, 0.040), (80, 0.048)], noise=0.02, seed=1))
    assert step.index == 120
    assert step.ratio == pytest.approx(1.2, rel=0.01)
    assert step.before == pytest.approx(0.040, rel=0.01)
    assert step.after == pytest.approx(0.048, rel=0.01)
    assert step.noise == pytest.approx(0.02, rel=0.2) and step.z > 10


def test_two_steps_are_both_found():
    values = series([(100, 40.0), (60, 50.0), (80, 45.0)], noise=0.02, seed=2)
    assert where(find_steps(values)) == [(100, 1.25), (160, 0.9)]


def test_the_newest_step_is_named_after_three_small_drifts():
    drift = [(50, 1.05**k) for k in range(4)]
    values = series([*drift, (50, 1.05**3 * 1.3)], noise=0.01, seed=3)
    assert where(find_steps(values)) == [(50, 1.05), (100, 1.05), (150, 1.05), (200, 1.3)]


def test_three_sessions_40_40_120_step_at_the_newest():
    [step] = find_steps([40.0, 40.0, 120.0])
    assert (step.index, step.ratio) == (2, pytest.approx(3.0))


@pytest.mark.parametrize(
    ("values", "spread", "expected"),
    [
        ([40.0, 41.0, 40.0, 120.0], None, [(3, 2.98)]),  # the step kept out of the noise
        ([40.0, 41.0, 120.0], [0.02, 0.02, 0.02], [(2, 2.96)]),  # the processes tell the noise
        ([40.0, 41.0, 42.0], [0.02, 0.02, 0.02], []),  # a few % inside that noise
        ([40.0, 120.0], [0.03, None], [(1, 3.0)]),
        ([40.0, 120.0], None, []),  # two single processes: no noise estimate, no verdict
    ],
)  # fmt: skip
def test_a_short_history_is_judged_by_the_noise_within_its_levels(values, spread, expected):
    assert where(find_steps(values, spread)) == expected


@pytest.mark.parametrize("seed", range(5))
def test_a_flat_noisy_series_shows_no_step(seed):
    assert find_steps(series([(500, 0.040)], noise=0.03, seed=seed)) == []


def test_flat_series_of_any_length_show_a_step_about_as_rarely_as_alpha():
    rng = np.random.default_rng(4)
    lengths = rng.integers(3, 300, size=1000)
    stepped = sum(bool(find_steps(np.exp(rng.normal(0.0, 0.03, n)))) for n in lengths)
    assert stepped <= 2 * ALPHA * len(lengths)


@pytest.mark.parametrize(
    ("threshold", "expected"), [(0.0, [(60, 1.08)]), (0.05, [(60, 1.08)]), (0.10, [])]
)
def test_steps_below_the_threshold_are_not_reported(threshold, expected):
    values = series([(60, 1.0), (60, 1.08)], noise=0.01, seed=5)
    assert where(find_steps(values, threshold=threshold)) == expected


def test_a_step_below_min_step_is_not_reported_however_clear():
    values = series([(60, 1.0), (60, 1 + MIN_STEP / 2)], noise=0.0005, seed=6)
    assert find_steps(values) == []


def test_identical_instruction_counts_step_on_any_change_beyond_min_step():
    counts = [596_123.0] * 10 + [632_000.0] * 5
    assert where(find_steps(counts)) == [(10, 1.06)]


def test_an_outlier_session_is_not_a_step():
    values = series([(20, 40.0), (1, 80.0), (20, 40.0)], noise=0.01, seed=7)
    assert find_steps(values) == []


@pytest.mark.parametrize(
    ("values", "spread", "message"),
    [
        ([40.0, 0.0, 40.0], None, "finite and positive"),
        ([40.0, math.nan], None, "finite and positive"),
        ([[40.0, 41.0]], None, "one series"),
        ([40.0, 41.0], [0.01], "one per value"),
        ([40.0, 41.0], [0.01, -0.01], "never negative"),
    ],
)
def test_values_that_are_no_series_of_times_are_refused(values, spread, message):
    with pytest.raises(ValueError, match=message):
        find_steps(values, spread)


@STATISTICAL
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 300),
    scale=st.floats(1e-9, 1e12),
)
def test_scaling_every_value_changes_no_step(seed, n, scale):
    rng = np.random.default_rng(seed)
    levels = np.repeat(rng.choice([1.0, 1.2], 3), -(-n // 3))[:n]  # up to two steps
    values = np.exp(rng.normal(0.0, 0.03, n)) * levels
    plain, scaled = find_steps(values), find_steps(values * scale)
    assert [s.index for s in scaled] == [s.index for s in plain]
    assert [s.ratio for s in scaled] == pytest.approx([s.ratio for s in plain], rel=1e-9)


@st.composite
def planted(draw, smallest: float, min_length: int, margin: int):
    """A 2 %-noise series with one step of at least ``smallest`` (up or down), at least
    ``margin`` sessions from either end."""
    n = draw(st.integers(min_length, 400))
    index = draw(st.integers(margin, n - margin))
    size = draw(st.floats(smallest, 0.5))
    ratio = 1 + size if draw(st.booleans()) else 1 / (1 + size)
    values = series([(index, 1.0), (n - index, ratio)], noise=0.02, seed=draw(st.integers(0)))
    return values, index, ratio


@STATISTICAL
@given(planted(smallest=0.10, min_length=20, margin=10))
def test_a_planted_step_of_ten_percent_is_found_within_one_session(case):
    values, index, ratio = case
    nearest = min(find_steps(values), key=lambda s: abs(s.index - index))
    assert abs(nearest.index - index) <= 1
    assert nearest.ratio == pytest.approx(ratio, rel=0.1)


@STATISTICAL
@given(planted(smallest=0.05, min_length=40, margin=20))
def test_a_planted_step_of_five_percent_is_found_within_a_few_sessions(case):
    # 5 % in 2 % noise is 2.4 standard deviations: a session near the step may fit either
    # level, so the place is certain to a few sessions, not to one (see the module docs).
    values, index, ratio = case
    nearest = min(find_steps(values), key=lambda s: abs(s.index - index))
    assert abs(nearest.index - index) <= 8
    assert nearest.ratio == pytest.approx(ratio, rel=0.15)


def bench_files(medians: list[list[float]]) -> list[BenchFile]:
    """One session per entry, one process (file) per value, in time order."""
    start = datetime(2026, 11, 1)
    files = []
    for index, processes in enumerate(medians):
        for process, median in enumerate(processes):
            info = {"linreg_machine": "m1", "linreg_session": f"s{index}",
                    "linreg_process": process}  # fmt: skip
            case = BenchCase(name=CASE.split("::")[-1], fullname=CASE, stats={}, rounds=(median,))
            when = (start + timedelta(hours=index)).isoformat()
            files.append(BenchFile(Path(f"{index}-{process}.json"), info, (case,), when))
    return files


def steps_of(medians: list[list[float]]):
    history = history_of(bench_files(medians))
    [series] = case_series(history, 0.0)[CASE]
    return history, series


def test_case_series_judges_three_sessions_by_their_process_spread():
    sessions = [[0.040, 0.041, 0.0395], [0.0405, 0.040, 0.041], [0.120, 0.118, 0.121]]
    history, series = steps_of(sessions)
    [step] = series.steps
    assert (history.sessions[step.session].id, step.position, series.metric) == ("s2", 2, "wall")
    assert step.ratio == pytest.approx(2.97, rel=0.01)


def test_case_series_finds_every_step_and_the_listing_keeps_the_newest():
    levels = [1.0, 1.05, 1.05**2, 1.05**3, 1.05**3 * 1.3]
    values = series([(12, 0.040 * level) for level in levels], noise=0.005, seed=8)
    history, found = steps_of([[v] for v in values])
    assert len(found.steps) == MAX_STEPS + 1
    listed = found.steps[-MAX_STEPS:]
    assert [history.sessions[s.session].id for s in listed] == ["s24", "s36", "s48"]
    assert listed[-1].ratio == pytest.approx(1.3, rel=0.02)
