"""Speed verdicts over per-process samples: every path (slower, faster, no change, undecided,
unstable, no instruction counts, another machine) on synthetic sessions with known truth, and
each fault a user found in the rules, rerun."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from linreg.cli import main
from linreg.cli.console import console
from linreg.compare.shift import smallest_p
from linreg.compare.speed import judge_instructions, judge_sessions, judge_wall
from linreg.errors import ConfigError
from linreg.options import parse_threshold
from linreg.report.speed_words import case_words, summary
from linreg.results.bench_file import BenchFile
from linreg.results.bench_sessions import CaseSamples, newest_per_machine
from linreg.results.noise_floor import NoiseFloor, SessionSpread
from linreg.results.speed_verdict import (
    FASTER,
    NO_CHANGE,
    NO_REGRESSION,
    REGRESSED,
    SLOWER,
    UNDECIDED,
)

TRAIN = "bench_train.py::bench_train[cpu-float32-seed42-eager]"
INFER = "bench_inference.py::bench_inference[cpu-float32-seed42-eager-n1000]"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(console, "width", 300)


def processes(seed: int, median: float, n: int, spread: float = 0.03) -> tuple[float, ...]:
    """Per-process medians as a shared machine gives them: lognormal around ``median``."""
    rng = random.Random(seed)
    return tuple(median * rng.lognormvariate(0, spread) for _ in range(n))


def side(seed: int, medians: dict[str, float], n: int, **kwargs) -> dict[str, CaseSamples]:
    return {
        case: CaseSamples(case, processes(seed + i, m, n, **kwargs))
        for i, (case, m) in enumerate(medians.items())
    }


def test_three_processes_a_side_cannot_reach_alpha_and_say_so():
    assert smallest_p(3, 3) == pytest.approx(0.1)
    [verdict] = judge_wall(side(1, {TRAIN: 0.04}, 3), side(2, {TRAIN: 0.08}, 3), threshold=0.1,
                           interleaved=True)  # fmt: skip
    assert verdict.outcome == UNDECIDED and verdict.p is None
    said = case_words(verdict)
    assert said.startswith("undecided (3 vs 3 processes cannot reach 99 % confidence")
    assert verdict.ratio == pytest.approx(2, rel=0.1)
    # The simulated power table says how many would: a doubling at a 3 % spread needs few.
    assert verdict.processes_needed is not None and 3 < verdict.processes_needed <= 8


def test_thirty_percent_slower_over_eight_processes_is_slower_with_an_interval():
    [verdict] = judge_wall(side(1, {TRAIN: 0.040}, 8), side(2, {TRAIN: 0.052}, 8), threshold=0.1,
                           interleaved=True)  # fmt: skip
    assert verdict.outcome == SLOWER and verdict.is_regression
    assert verdict.p_adjusted is not None and verdict.p_adjusted < 0.01
    low, high = verdict.ci
    assert low < verdict.ratio < high and low > 1.1 and verdict.confidence == pytest.approx(0.99)


def test_faster_is_faster_not_a_regression():
    [verdict] = judge_wall(side(1, {TRAIN: 0.052}, 8), side(2, {TRAIN: 0.040}, 8), threshold=0.1,
                           interleaved=True)  # fmt: skip
    assert verdict.outcome == FASTER and not verdict.is_regression


def test_the_same_code_twice_at_a_small_spread_is_no_change_beyond_the_threshold():
    [verdict] = judge_wall(side(1, {TRAIN: 0.04}, 8), side(9, {TRAIN: 0.04}, 8), threshold=0.1,
                           interleaved=True)  # fmt: skip
    assert verdict.outcome == NO_CHANGE and case_words(verdict) == "no change beyond 10 %"
    low, high = verdict.ci
    assert low > 1 / 1.1 and high < 1.1


def test_the_same_code_at_a_wide_spread_is_undecided_never_no_change():
    ref, cand = side(1, {TRAIN: 0.04}, 8, spread=0.15), side(9, {TRAIN: 0.04}, 8, spread=0.15)
    [verdict] = judge_wall(ref, cand, threshold=0.1, interleaved=True)
    assert verdict.outcome == UNDECIDED and "spans ±10 %" in verdict.reason
    assert verdict.processes_needed is None or verdict.processes_needed > 8


def test_the_between_session_spread_widens_the_interval():
    from linreg.compare.shift import Shift

    ref, cand = side(1, {TRAIN: 0.040}, 8, spread=0.01), side(2, {TRAIN: 0.0412}, 8, spread=0.01)
    [alone] = judge_wall(ref, cand, threshold=0.1, interleaved=True)
    # Five A/A sessions of 8 processes: s_b = 3 %, the process part 1 %.
    spread = SessionSpread(5, 40, between=8 * 0.03**2 + 0.01**2, within=0.01**2, n0=8.0)
    noise = NoiseFloor(machine="m", processes=8, between_sessions={TRAIN: spread}, sessions=5)
    [widened] = judge_wall(ref, cand, threshold=0.1, noise=noise)
    [interleaved] = judge_wall(ref, cand, threshold=0.1, noise=noise, interleaved=True)
    assert alone.outcome == NO_CHANGE and widened.outcome == UNDECIDED
    assert widened.ci[0] < alone.ci[0] and widened.ci[1] > alone.ci[1]
    assert interleaved.ci == alone.ci and widened.noise_floor == pytest.approx(0.03)
    # The interval's term is the README's formula: t₄(1 - alpha/4)·√2·√(MS_between/n₀) beyond
    # the ranks'.
    shift = Shift.of(ref[TRAIN].wall, cand[TRAIN].wall, spread.level_sd, spread.degrees)
    assert shift.margin_alone(0.01) == pytest.approx(5.598 * 2**0.5 * spread.level_sd, rel=1e-3)


def test_an_unstable_case_is_still_decided_when_its_interval_is_clear():
    # Every candidate process at least 2x slower, one of them 1.56x its own median.
    ref = side(3, {TRAIN: 0.04}, 8)
    slow = [v * 2.1 for v in processes(4, 0.04, 8)]
    slow[-1] *= 1.56
    [verdict] = judge_wall(ref, {TRAIN: CaseSamples(TRAIN, tuple(slow))}, threshold=0.1,
                           interleaved=True)  # fmt: skip
    assert verdict.unstable and verdict.outcome == SLOWER and verdict.ci[0] > 1.8


def test_a_bimodal_case_is_flagged_and_never_called_no_change():
    flips = CaseSamples(INFER, (5e-5, 5e-5, 8e-3, 5e-5, 5e-5, 8e-3, 5e-5, 5e-5))
    steady = CaseSamples(INFER, processes(3, 5e-5, 8))
    [verdict] = judge_wall({INFER: steady}, {INFER: flips}, threshold=0.1, interleaved=True)
    assert verdict.unstable and verdict.outcome == UNDECIDED


def test_a_change_clear_alone_but_not_among_ten_cases_is_undecided_not_no_change():
    # 6 vs 6 processes over 10 cases, one 20 % slower with every candidate process above every
    # reference process: clear of the threshold at 99 % alone, not after the adjustment.
    cases = {f"bench_x.py::bench_x[c{i}]": 0.01 for i in range(10)}
    ref, cand = side(100, cases, 6), side(200, cases, 6)
    slow = "bench_x.py::bench_x[c0]"
    ref[slow] = CaseSamples(slow, processes(8, 0.01, 6, spread=0.01))
    cand[slow] = CaseSamples(slow, processes(7, 0.012, 6, spread=0.01))
    assert min(cand[slow].wall) > max(ref[slow].wall)
    verdicts = {v.case: v for v in judge_wall(ref, cand, threshold=0.1, interleaved=True)}
    assert verdicts[slow].outcome == UNDECIDED and "not once adjusted" in verdicts[slow].reason


def test_ten_percent_slower_over_five_processes_is_not_no_change():
    cases = {f"bench_x.py::bench_x[c{i}]": 0.01 for i in range(2)}
    ref = side(1, cases, 5)
    cand = side(50, {k: v * 1.1 for k, v in cases.items()}, 5)
    assert all(
        v.outcome == UNDECIDED for v in judge_wall(ref, cand, threshold=0.1, interleaved=True)
    )


def test_false_discoveries_are_controlled_across_cases():
    # Twenty cases of identical code and one slowed one: only that one may come out slower.
    cases = {f"bench_x.py::bench_x[c{i}]": 0.01 for i in range(20)}
    ref, cand = side(100, cases, 8), side(200, cases, 8)
    slow = "bench_x.py::bench_x[slow]"
    ref[slow], cand[slow] = (
        CaseSamples(slow, processes(5, 0.01, 8)),
        CaseSamples(slow, processes(6, 0.014, 8)),
    )
    verdicts = judge_wall(ref, cand, threshold=0.1, interleaved=True)
    assert [v.case for v in verdicts if v.outcome == SLOWER] == [slow]
    assert all(v.p_adjusted >= v.p for v in verdicts)
    # The selected case's interval is stated at 1 - R·alpha/m: 1 - 0.01/21.
    [selected] = [v for v in verdicts if v.case == slow]
    assert selected.confidence == pytest.approx(1 - 0.01 / 21)


@pytest.mark.parametrize(
    ("change", "outcome"),
    [(1.05, SLOWER), (0.95, FASTER), (1.004, NO_CHANGE), (1.015, NO_CHANGE)],
)
def test_instruction_counts_decide_from_one_process(change, outcome):
    ref = {TRAIN: CaseSamples(TRAIN, (0.04,), (59.7e6,))}
    cand = {TRAIN: CaseSamples(TRAIN, (0.04,), (59.7e6 * change,))}
    [result] = judge_instructions(ref, cand, threshold=0.02)
    assert result.outcome == outcome and result.samples == (1, 1)


def test_an_instruction_change_inside_twice_the_noise_floor_is_undecided():
    noise = NoiseFloor(machine="m", processes=8, instructions={TRAIN: 0.02})
    ref = {TRAIN: CaseSamples(TRAIN, (0.04,), (100.0e6,))}
    cand = {TRAIN: CaseSamples(TRAIN, (0.04,), (103.0e6,))}
    [result] = judge_instructions(ref, cand, threshold=0.02, noise=noise)
    assert result.outcome == UNDECIDED and "noise floor" in result.reason


@pytest.mark.parametrize(("text", "value"), [("10%", 0.1), ("0.1", 0.1), ("2.5%", 0.025)])
def test_percent_options_take_a_percentage_or_a_fraction(text, value):
    assert parse_threshold("fail_on_regression", text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["5", "1", "12"])
def test_a_bare_number_of_one_or_more_is_refused_as_ambiguous(text):
    with pytest.raises(ConfigError, match=f"'{text}' is ambiguous: write {text}%"):
        parse_threshold("fail_on_regression", text)


# --- sessions, machines and the CLI --------------------------------------------------------------


def bench_json(
    path: Path,
    rounds: dict[str, list[float]],
    machine: str = "m1",
    session: str = "s1",
    process: int = 0,
    instructions: dict[str, float] | None = None,
    cpu: str = "Intel Xeon",
    when: str = "2026-11-29T10:00:00",
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    benchmarks = [
        {
            "name": case.split("::")[-1],
            "fullname": case,
            "stats": {"data": data},
            "extra_info": {"instructions": (instructions or {}).get(case)},
        }
        for case, data in rounds.items()
    ]
    info = {
        "linreg_machine": machine,
        "linreg_session": session,
        "linreg_process": process,
        "linreg_environment": {"cpu": cpu, "cpu_count": 2, "torch_cpu_capability": "AVX512"},
    }
    path.write_text(json.dumps({"machine_info": info, "benchmarks": benchmarks, "datetime": when}))
    return path


def session_folder(
    folder: Path, median: float, n: int, seed: int, turn: int | None = None, **kwargs
) -> Path:
    """One session of n processes; ``turn`` 0 or 1: its processes take that turn of an A/B's
    A B A B … (one minute apart), so that two such sessions ran interleaved."""
    for i, value in enumerate(processes(seed, median, n)):
        rounds = [value * f for f in (0.99, 1.0, 1.01)]
        if turn is not None:
            kwargs["when"] = f"2026-11-29T10:{2 * i + turn:02d}:00Z"
        bench_json(folder / f"{i:04d}.json", {TRAIN: rounds}, process=i, **kwargs)
    return folder


def load(folder: Path) -> list[BenchFile]:
    from linreg.results.resultset import load_result_set

    return load_result_set(folder).bench_files


def test_a_folder_means_its_newest_session_per_machine(tmp_path):
    session_folder(tmp_path / "old", 0.04, 2, 1, session="s1", when="2026-11-28T00:00:00")
    session_folder(tmp_path / "new", 0.05, 3, 2, session="s2", when="2026-11-29T00:00:00")
    bench_json(tmp_path / "other.json", {TRAIN: [0.1, 0.1]}, machine="m2", session="x")
    [m1, m2] = newest_per_machine(load(tmp_path))
    assert (m1.machine, m1.session, m1.processes) == ("m1", "s2", 3)
    assert (m2.machine, m2.session) == ("m2", "x")


def test_another_machine_is_information_not_a_gate(tmp_path):
    from linreg.results.bench_sessions import sessions

    [ref] = sessions(load(session_folder(tmp_path / "a", 0.04, 8, 1, turn=0)))
    [cand] = sessions(
        load(session_folder(tmp_path / "b", 0.08, 8, 2, turn=1, machine="m2", cpu="AMD"))
    )
    verdict = judge_sessions(ref, cand, threshold=0.1)
    assert not verdict.same_machine and not verdict.gating
    assert [c.outcome for c in verdict.cases] == [SLOWER] and verdict.regressions == []
    assert verdict.verdict == "information" and "slower there: train" in summary(verdict)
    assert any("different machines" in note for note in verdict.notes)
    assert any("no instruction counts on either side (not recorded)" in n for n in verdict.notes)


def test_cli_gate_fails_a_same_machine_slowdown_and_names_the_case(tmp_path, capsys):
    ref = session_folder(tmp_path / "ref", 0.040, 8, 1, turn=0, session="r")
    cand = session_folder(tmp_path / "cand", 0.052, 8, 2, turn=1, session="c")
    out = tmp_path / "verdict.json"
    args = ["compare", str(ref), str(cand), "--fail-on-regression", "10%", "--out", str(out)]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "train" in captured.out and "slower" in captured.out
    assert f"compare: FAIL: {TRAIN} slower (wall ×1.3" in captured.err
    written = json.loads(out.read_text())
    assert written["kind"] == "speed-verdict" and written["verdict"] == "regressed"
    assert "session r" in written["reference"] and "8 processes" in written["reference"]


def test_cli_same_code_passes_the_gate(tmp_path, capsys):
    ref = session_folder(tmp_path / "ref", 0.040, 8, 1, turn=0, session="r")
    cand = session_folder(tmp_path / "cand", 0.040, 8, 7, turn=1, session="c")
    assert main(["compare", str(ref), str(cand), "--fail-on-regression", "10%"]) == 0
    assert "compare: OK" in capsys.readouterr().out


def test_cli_history_flags_where_a_case_stepped(tmp_path, capsys):
    for day, median in enumerate([0.040, 0.041, 0.040, 0.052, 0.053, 0.052]):
        bench_json(tmp_path / f"{day}.json", {TRAIN: [median] * 3}, session=f"s{day}",
                   when=f"2026-11-{10 + day}T00:00:00")  # fmt: skip
    assert main(["compare", "--all", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "train: wall ×1.3" in out and "at session s3" in out


def test_cli_history_names_the_newest_step_after_three_small_drifts(tmp_path, capsys):
    rng = random.Random(9)
    levels = [0.040 * 1.05**k for k in range(4)] + [0.040 * 1.05**3 * 1.3]
    medians = [level * rng.lognormvariate(0, 0.005) for level in levels for _ in range(12)]
    for day, median in enumerate(medians):
        bench_json(tmp_path / f"{day:02d}.json", {TRAIN: [median] * 3}, session=f"s{day}",
                   when=f"2026-11-01T{day // 60:02d}:{day % 60:02d}:00")  # fmt: skip
    assert main(["compare", "--all", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "train: wall ×1.3" in out and "at session s48" in out
    assert "1 older step(s) not listed" in out
    assert "compare --all: 4 step(s) in 1 series" in out


def test_the_speed_table_keeps_each_case_on_one_line_at_80_columns(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(console, "width", 80)
    sizes = (10, 1_000, 100_000, 10_000_000)
    cases = [f"bench_inference.py::bench_inference[cpu-float32-seed42-eager-n{n}]" for n in sizes]
    for side, seed in (("ref", 1), ("cand", 2)):
        for i, value in enumerate(processes(seed, 0.04, 8)):
            bench_json(tmp_path / side / f"{i:04d}.json", {c: [value] * 3 for c in [*cases, TRAIN]},
                       session=side, process=i, instructions={c: 1e6 for c in cases},
                       when=f"2026-11-29T10:{2 * i + seed:02d}:00")  # fmt: skip
    assert main(["compare", str(tmp_path / "ref"), str(tmp_path / "cand")]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("inference", "train"))]
    # One row per case and metric, each whole on its line: the size told apart, the verdict unsplit.
    assert len(rows) == 2 * len(sizes) + 1 and max(len(line) for line in out.splitlines()) <= 80
    assert {row.split()[1] for row in rows if row.startswith("inference")} == {
        "n10", "n1000", "n1e5", "n1e7"
    }  # fmt: skip
    assert all(row.rstrip().endswith(("no change ±10%", "no change ±3%")) for row in rows), rows


def slowed_sessions(tmp_path: Path, change: float = 1.3, processes_a_side: int = 8):
    """Two same-machine sessions of two cases, one of them ``change`` slower by wall time and
    by instructions in the candidate."""
    # Run as an A/B: the sides' processes alternate, a minute apart.
    for role, seed, factor, turn in (("ref", 1, 1.0, 0), ("cand", 2, change, 1)):
        for i, value in enumerate(processes(seed, 0.04, processes_a_side)):
            rounds = {TRAIN: [value * factor] * 3, INFER: [value / 100] * 3}
            counts = {TRAIN: 334e6 * factor, INFER: 1e6}
            bench_json(tmp_path / role / f"{i:04d}.json", rounds, session=role, process=i,
                       instructions=counts if i == 0 else None,
                       when=f"2026-11-10T00:{2 * i + turn:02d}:00")  # fmt: skip
    return tmp_path / "ref", tmp_path / "cand"


def test_a_slowdown_without_the_gate_is_named_slower_not_no_regression(tmp_path, capsys):
    ref, cand = slowed_sessions(tmp_path)
    out = tmp_path / "verdict.json"
    assert main(["compare", str(ref), str(cand), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "no regression" not in captured.out + captured.err
    assert "Speed: 1 of 2 cases slower: train" in captured.out
    assert "compare: OK: 1 of 2 cases slower: train (no gate" in captured.out
    written = json.loads(out.read_text())
    assert written["verdict"] == REGRESSED and written["gating"] is False
    assert {(c["metric"], c["outcome"]) for c in written["cases"] if "train" in c["case"]} == {
        ("wall", SLOWER), ("instructions", SLOWER)
    }  # fmt: skip


def test_the_gate_fails_the_same_slowdown(tmp_path, capsys):
    ref, cand = slowed_sessions(tmp_path)
    assert main(["compare", str(ref), str(cand), "--fail-on-regression", "10%"]) == 1
    err = capsys.readouterr().err
    assert f"compare: FAIL: {TRAIN} slower (instructions ×1.30, wall ×1.3" in err


def test_one_baseline_process_against_three_is_undecided_never_no_regression(tmp_path, capsys):
    bench_json(tmp_path / "base" / "0001.json", {TRAIN: [0.04] * 3, INFER: [4e-4] * 3},
               session="b", when="2026-11-01T00:00:00")  # fmt: skip
    for i, value in enumerate([0.041, 0.158, 0.039]):
        bench_json(tmp_path / "new" / f"{i}.json", {TRAIN: [value] * 3, INFER: [4e-4] * 3},
                   session="n", process=i, when=f"2026-11-02T00:0{i}:00")  # fmt: skip
    assert main(["compare", str(tmp_path / "base"), str(tmp_path / "new"),
                 "--fail-on-regression", "10%"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "no regression" not in out and "compare: OK: undecided in 2 of 2 cases" in out
    rows = [line for line in out.splitlines() if line.startswith(("train", "inference"))]
    assert rows and all("undecided" in row for row in rows), rows
    # Tied values give no spread to advise from: no number of processes is promised.
    assert "n≈" not in next(row for row in rows if row.startswith("inference"))


def test_the_noise_floor_is_read_from_the_candidate_side_too(tmp_path):
    from linreg.compare.sets import compare_result_sets
    from linreg.results import kinds
    from linreg.tolerance import default_tolerances

    ref = session_folder(tmp_path / "ref", 0.040, 8, 1, session="r", when="2026-11-01T00:00:00")
    cand = session_folder(tmp_path / "cand", 0.041, 8, 2, session="c",
                          when="2026-11-02T00:00:00")  # fmt: skip
    spread = SessionSpread(3, 24, between=8 * 0.05**2 + 0.01**2, within=0.01**2, n0=8.0)
    floor = NoiseFloor("m1", 8, between_sessions={TRAIN: spread}, sessions=3)
    (cand / "noise-c.json").write_text(
        json.dumps(kinds.envelope(kinds.NOISE_FLOOR, floor.to_dict()))
    )
    result = compare_result_sets(ref, cand, default_tolerances())
    [verdict] = result.speed
    [case] = verdict.cases
    assert case.noise_floor == pytest.approx(0.05) and case.outcome == UNDECIDED
    assert any("between-session spread of m1 measured over 3 sessions" in n for n in verdict.notes)


def test_no_regression_only_when_every_case_earned_it(tmp_path):
    from linreg.results.bench_sessions import sessions

    quiet = {"spread": 0.005}
    for role, seed in (("ref", 1), ("cand", 2)):
        for i, value in enumerate(processes(seed, 0.04, 8, **quiet)):
            bench_json(tmp_path / role / f"{i}.json", {TRAIN: [value] * 3}, session=role,
                       process=i, when=f"2026-11-01T00:{2 * i + seed:02d}:00")  # fmt: skip
    [ref] = sessions(load(tmp_path / "ref"))
    [cand] = sessions(load(tmp_path / "cand"))
    verdict = judge_sessions(ref, cand, threshold=0.1)
    assert verdict.verdict == NO_REGRESSION
    assert summary(verdict) == "wall time: no change beyond 10 % in 1 case"
