"""The between-session term when it is estimated or unknown, when sides count as interleaved, and
sides whose units do not match: each fault found in the wall-time rule, rerun."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from linreg.cli import main
from linreg.compare.session_term import alternate, parse_time
from linreg.compare.speed import interleaved, judge_wall
from linreg.errors import ResultSetError
from linreg.results import kinds
from linreg.results.bench_sessions import CaseSamples, sessions
from linreg.results.load import load_result
from linreg.results.noise_floor import NoiseFloor, SessionSpread
from linreg.results.resultset import load_result_set
from linreg.results.speed_verdict import NO_CHANGE, SLOWER, UNDECIDED
from tests.test_speed_verdicts import TRAIN, bench_json, processes

ALPHA = 0.01


def side(rng: np.random.Generator, level: float, spread: float, n: int = 8) -> CaseSamples:
    """n per-process medians of one session at log ``level``."""
    return CaseSamples(TRAIN, tuple(0.04 * np.exp(level + rng.normal(0, spread, n))))


def aa_floor(rng: np.random.Generator, count: int, session_sd: float, spread: float) -> NoiseFloor:
    """The noise floor `linreg bench --processes 8` stores after ``count`` A/A sessions of the
    same code, run apart: each session at its own level."""
    found = [{TRAIN: side(rng, rng.normal(0, session_sd), spread)} for _ in range(count)]
    return NoiseFloor.measure("m", found[-1], found[:-1])


def outcomes_apart(
    truth: float, threshold: float, session_sd: float, spread: float, floors, seed: int
) -> list[str]:
    """One-case comparisons of 8 against 8 processes, the sides in sessions run apart (each at
    its own level), ``truth`` the candidate's true ratio; ``floors(rng)`` the noise floor each
    comparison reads (None: none stored)."""
    rng = np.random.default_rng(seed)
    said = []
    for _ in range(400):
        noise = floors(rng)
        levels = rng.normal(0, session_sd, 2)
        ref = {TRAIN: side(rng, levels[0], spread)}
        cand = {TRAIN: side(rng, levels[1] + math.log(truth), spread)}
        [verdict] = judge_wall(ref, cand, threshold, ALPHA, noise)
        said.append(verdict.outcome)
    return said


def at_most_alpha(count: int, total: int) -> bool:
    """Not credibly above alpha: within a one-sided binomial bound at 0.1 %."""
    return count <= binom.ppf(0.999, total, ALPHA)


def test_sessions_apart_without_a_stored_spread_are_not_called_slower():
    # The first finding: s_b not stored, true s_b 3 %, T = 5 %: 6.5 % false "slower".
    said = outcomes_apart(1.05, 0.05, 0.03, 0.02, lambda rng: None, seed=1)
    assert at_most_alpha(said.count(SLOWER), len(said)), said.count(SLOWER)


def test_sessions_apart_without_a_stored_spread_are_undecided_saying_what_decides():
    rng = np.random.default_rng(2)
    ref, cand = {TRAIN: side(rng, 0.0, 0.01)}, {TRAIN: side(rng, 0.0, 0.01)}
    [verdict] = judge_wall(ref, cand, 0.1, ALPHA)
    assert verdict.outcome == UNDECIDED and verdict.processes_needed is None
    assert "between-session spread is not measured" in verdict.reason
    assert "linreg bench --processes 8" in verdict.reason and "linreg ab" in verdict.reason
    # The same processes interleaved are decided: the term is what was missing.
    [together] = judge_wall(ref, cand, 0.1, ALPHA, interleaved=True)
    assert together.outcome == NO_CHANGE


def test_a_spread_from_two_aa_sessions_is_bounded_not_taken_at_its_word():
    # Estimated from 2 A/A sessions, true change exactly T: 7.6–8.3 % false "slower" before.
    said = outcomes_apart(1.1, 0.1, 0.05, 0.02, lambda rng: aa_floor(rng, 2, 0.05, 0.02), seed=3)
    assert at_most_alpha(said.count(SLOWER), len(said)), said.count(SLOWER)


def test_twice_the_threshold_apart_without_a_stored_spread_is_not_no_change():
    # No floor stored: a true change of (1 + T)² was called "no change" 6–15 % of the time.
    said = outcomes_apart(1.1**2, 0.1, 0.05, 0.02, lambda rng: None, seed=4)
    assert at_most_alpha(said.count(NO_CHANGE), len(said)), said.count(NO_CHANGE)


def test_a_bound_from_many_quiet_sessions_still_decides_a_large_change():
    # Ten A/A sessions of a quiet machine: t with 9 degrees of freedom leaves room to decide.
    floor = lambda rng: aa_floor(rng, 10, 0.005, 0.01)  # noqa: E731
    said = outcomes_apart(1.3, 0.1, 0.005, 0.01, floor, seed=5)
    assert said.count(SLOWER) / len(said) >= 0.95


def test_a_floored_spread_of_zero_still_carries_a_term():
    # Two A/A sessions whose levels differ by less than their processes explain: s_b is 0.
    spread = SessionSpread(sessions=2, processes=16, between=0.0001, within=0.0004, n0=8.0)
    assert spread.sd == 0 and spread.level_sd > 0
    noise = NoiseFloor("m", 8, between_sessions={TRAIN: spread}, sessions=2)
    rng = np.random.default_rng(6)
    ref, cand = {TRAIN: side(rng, 0.0, 0.01)}, {TRAIN: side(rng, math.log(1.3), 0.01)}
    [alone] = judge_wall(ref, cand, 0.1, ALPHA, interleaved=True)
    [apart] = judge_wall(ref, cand, 0.1, ALPHA, noise)
    assert apart.ci[0] < alone.ci[0] and apart.ci[1] > alone.ci[1]
    assert apart.outcome == UNDECIDED and "from 2 A/A sessions alone spans" in apart.reason
    assert apart.noise_floor == 0.0


def test_the_term_is_students_t_on_the_sessions_mean_level():
    from linreg.compare.shift import Shift

    spread = SessionSpread(sessions=5, processes=40, between=0.0008, within=0.0001, n0=8.0)
    shift = Shift.of([1.0, 1.1], [1.05, 1.2], spread.level_sd, spread.degrees)
    # t with 4 degrees of freedom at 1 - alpha/4, times √2·√(MS_between/n₀).
    assert shift.margin_alone(ALPHA) == pytest.approx(5.5976 * 2**0.5 * 0.01, rel=1e-4)


# --- the noise floor record -----------------------------------------------------------------------


def test_the_noise_floor_keeps_the_mean_squares_and_reads_back(tmp_path):
    rng = np.random.default_rng(7)
    floor = aa_floor(rng, 3, 0.02, 0.01)
    [spread] = floor.between_sessions.values()
    assert (spread.sessions, spread.processes, spread.n0, spread.degrees) == (3, 24, 8.0, 2)
    path = tmp_path / "noise.json"
    path.write_text(json.dumps(kinds.envelope(kinds.NOISE_FLOOR, floor.to_dict())))
    assert json.loads(path.read_text())["schema_version"] == 2
    assert load_result(path).value == floor


def test_an_older_noise_floor_is_upgraded_with_its_sessions_as_degrees(tmp_path):
    path = tmp_path / "noise.json"
    old = {"schema_version": 1, "kind": "noise-floor", "machine": "m", "processes": 8,
           "sessions": 3, "wall": {TRAIN: 0.05}, "instructions": {},
           "process_sd": {TRAIN: 0.02}, "session_sd": {TRAIN: 0.0}}  # fmt: skip
    path.write_text(json.dumps(old))
    floor = load_result(path).value
    spread = floor.between_sessions[TRAIN]
    assert spread.degrees == 2 and spread.sd == 0.0
    # A floored s_b of 0 keeps the process part: MS_between rebuilt as s_p².
    assert spread.level_sd == pytest.approx(0.02 / 8**0.5)
    assert floor.session_sd == {TRAIN: 0.0}


@pytest.mark.parametrize(
    "spread",
    [
        {"sessions": 1, "processes": 8, "between": 0.1, "within": 0.1, "n0": 8},
        {"sessions": 2, "processes": 16, "between": -0.1, "within": 0.1, "n0": 8},
        {"sessions": 2, "processes": 16, "between": 0.1, "within": 0.1, "n0": 0},
    ],
)
def test_a_malformed_between_session_spread_is_refused(tmp_path, spread):
    path = tmp_path / "noise.json"
    body = {"machine": "m", "processes": 8, "sessions": 2, "wall": {}, "instructions": {},
            "between_sessions": {TRAIN: spread}}  # fmt: skip
    path.write_text(json.dumps(kinds.envelope(kinds.NOISE_FLOOR, body)))
    with pytest.raises(ResultSetError, match="malformed noise-floor record"):
        load_result(path)


# --- linreg compare of sessions run apart --------------------------------------------------------


def two_sessions(tmp_path: Path, change: float, when, cand_when=None) -> tuple[Path, Path]:
    """The same code measured in two sessions of 8 processes, the candidate's level ``change``
    times the reference's: ``when(i)`` and ``cand_when(i)`` each process's time."""
    cand_when = cand_when or when
    for role, seed, factor, stamp in (("ref", 1, 1.0, when), ("cand", 2, change, cand_when)):
        for i, value in enumerate(processes(seed, 0.04, 8, spread=0.01)):
            bench_json(tmp_path / role / f"{i}.json", {TRAIN: [value * factor] * 3},
                       session=role, process=i, when=stamp(role, i))  # fmt: skip
    return tmp_path / "ref", tmp_path / "cand"


def apart_in_days(role: str, i: int) -> str:
    return f"2026-11-{10 if role == 'ref' else 11}T00:{i:02d}:00+00:00"


def test_one_code_base_in_two_sessions_fifteen_percent_apart_does_not_fail_the_gate(
    tmp_path, capsys
):
    ref, cand = two_sessions(tmp_path, 1.15, apart_in_days)
    assert main(["compare", str(ref), str(cand), "--fail-on-regression", "10%"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "compare: OK: undecided in 1 of 1 cases" in out
    assert "the sides ran apart and no between-session spread is measured for m1" in out


@pytest.mark.parametrize("schema", [1, 2])
def test_a_stored_spread_of_zero_does_not_make_sessions_apart_a_regression(
    tmp_path, capsys, schema
):
    ref, cand = two_sessions(tmp_path, 1.15, apart_in_days)
    if schema == 1:
        body = {"schema_version": 1, "kind": "noise-floor", "machine": "m1", "processes": 8,
                "sessions": 2, "wall": {TRAIN: 0.02}, "instructions": {},
                "process_sd": {TRAIN: 0.01}, "session_sd": {TRAIN: 0.0}}  # fmt: skip
    else:
        spread = SessionSpread(2, 16, between=0.00005, within=0.0001, n0=8.0)
        floor = NoiseFloor("m1", 8, between_sessions={TRAIN: spread}, sessions=2)
        body = kinds.envelope(kinds.NOISE_FLOOR, floor.to_dict())
    (cand / "noise-cand.json").write_text(json.dumps(body))
    out_file = tmp_path / "verdict.json"
    args = ["compare", str(ref), str(cand), "--fail-on-regression", "10%", "--out", str(out_file)]
    assert main(args) == 0
    [case] = [c for c in json.loads(out_file.read_text())["cases"] if c["metric"] == "wall"]
    assert case["outcome"] == UNDECIDED and case["noise_floor"] == 0.0


# --- interleaved: processes that alternate in time -----------------------------------------------


def session_pair(tmp_path: Path, ref_times: list[str], cand_times: list[str]):
    for role, times in (("ref", ref_times), ("cand", cand_times)):
        for i, when in enumerate(times):
            bench_json(tmp_path / role / f"{i}.json", {TRAIN: [0.04] * 3}, session=role,
                       process=i, when=when)  # fmt: skip
    [ref] = sessions(load_result_set(tmp_path / "ref").bench_files)
    [cand] = sessions(load_result_set(tmp_path / "cand").bench_files)
    return ref, cand


def minutes(start: int, count: int, step: int = 1, zone: str = "Z") -> list[str]:
    base = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.timezone.utc)
    return [
        (base + dt.timedelta(minutes=start + step * i)).strftime("%Y-%m-%dT%H:%M:%S") + zone
        for i in range(count)
    ]


def test_sessions_whose_spans_merely_overlap_are_not_interleaved(tmp_path):
    # Eight processes, then eight more starting before the last of them: the spans overlap.
    ref, cand = session_pair(tmp_path, minutes(0, 8), minutes(6, 8))
    assert not interleaved(ref, cand)


def test_sessions_whose_processes_alternate_are_interleaved(tmp_path):
    ref, cand = session_pair(tmp_path, minutes(0, 8, step=2), minutes(1, 8, step=2))
    assert interleaved(ref, cand)


def test_times_in_other_utc_offsets_are_compared_as_times_not_as_text(tmp_path):
    # 10:00–10:07 at +01:00 is 09:00–09:07 UTC: an hour before the candidate's 10:03–10:10 Z,
    # though the strings sort inside each other.
    ref_times = [t.replace("Z", "+01:00") for t in minutes(0, 8)]
    ref, cand = session_pair(tmp_path / "a", ref_times, minutes(3, 8))
    assert not interleaved(ref, cand)
    # And alternating processes written in two offsets still alternate.
    shifted = [
        (parse_time(t) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")
        for t in minutes(0, 8, step=2)
    ]
    ref, cand = session_pair(tmp_path / "b", shifted, minutes(1, 8, step=2))
    assert interleaved(ref, cand)


def test_a_naive_time_is_utc():
    assert parse_time("2026-11-29T10:00:00") == parse_time("2026-11-29T11:00:00+01:00")
    assert parse_time("not a time") is None and parse_time(None) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.booleans(), min_size=2, max_size=16),
    st.lists(st.integers(-12 * 60, 14 * 60), min_size=16, max_size=16),
)
def test_alternation_depends_on_the_times_not_on_how_they_are_written(labels, offsets):
    base = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.timezone.utc)
    times = [base + dt.timedelta(minutes=i) for i in range(len(labels))]

    def written(when: dt.datetime, minutes_east: int) -> str:
        return when.astimezone(dt.timezone(dt.timedelta(minutes=minutes_east))).isoformat()

    ref = [t for t, is_ref in zip(times, labels, strict=True) if is_ref]
    cand = [t for t, is_ref in zip(times, labels, strict=True) if not is_ref]
    in_utc = alternate([t.isoformat() for t in ref], [t.isoformat() for t in cand])
    elsewhere = alternate(
        [written(t, o) for t, o in zip(ref, offsets, strict=False)],
        [written(t, o) for t, o in zip(cand, offsets[::-1], strict=False)],
    )
    assert in_utc == elsewhere
    # A side that ran wholly before the other never alternates with it (beyond one each).
    if ref and cand and max(ref) < min(cand) and len(labels) > 2:
        assert not in_utc


# --- units ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [1000.0, 1008.0, 1 / 1000, 1e6])
def test_a_side_in_other_units_is_refused_not_judged(factor):
    rng = np.random.default_rng(8)
    ref = {TRAIN: side(rng, 0.0, 0.01)}
    cand = {TRAIN: CaseSamples(TRAIN, tuple(v * factor for v in side(rng, 0.0, 0.01).wall))}
    with pytest.raises(ResultSetError, match=r"units that do not match.*median .* against "):
        judge_wall(ref, cand, 0.1, ALPHA, interleaved=True)


def test_a_real_change_of_ten_times_is_judged_not_refused():
    rng = np.random.default_rng(9)
    ref = {TRAIN: side(rng, 0.0, 0.01)}
    cand = {TRAIN: side(rng, math.log(10), 0.01)}
    [verdict] = judge_wall(ref, cand, 0.1, ALPHA, interleaved=True)
    assert verdict.outcome == SLOWER


def test_compare_refuses_a_side_in_milliseconds_in_one_line(tmp_path, capsys):
    def when(role, i):
        return f"2026-11-29T10:{2 * i + (role == 'cand'):02d}:00Z"

    ref, cand = two_sessions(tmp_path, 1000.0, when)
    assert main(["compare", str(ref), str(cand), "--fail-on-regression", "10%"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "units that do not match" in err
    assert re.search(r"median (39|40)\.\d+ against 0\.0(39|40)\d*", err), err
