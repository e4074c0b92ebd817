"""Speed verdicts over per-process samples: every path (slower, faster, undecided, within noise,
unstable, no instruction counts, another machine) on synthetic sessions with known truth."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from linreg.cli import main
from linreg.cli.console import console
from linreg.compare.speed import (
    FASTER,
    NO_CHANGE,
    SLOWER,
    UNSTABLE,
    WITHIN_NOISE,
    judge_instructions,
    judge_sessions,
    judge_wall,
    min_p_value,
)
from linreg.results.bench_file import BenchFile
from linreg.results.bench_sessions import CaseSamples, newest_per_machine
from linreg.results.noise_floor import NoiseFloor

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
    assert min_p_value(3, 3) == pytest.approx(0.1)
    [verdict] = judge_wall(side(1, {TRAIN: 0.04}, 3), side(2, {TRAIN: 0.08}, 3), threshold=0.1)
    assert verdict.verdict == "undecided (3 vs 3 processes)" and verdict.p is None
    assert verdict.ratio == pytest.approx(2, rel=0.1)


def test_thirty_percent_slower_over_eight_processes_is_slower_with_an_interval():
    [verdict] = judge_wall(side(1, {TRAIN: 0.040}, 8), side(2, {TRAIN: 0.052}, 8), threshold=0.1)
    assert verdict.verdict == SLOWER and verdict.is_regression
    assert verdict.p_adjusted is not None and verdict.p_adjusted < 0.01
    low, high = verdict.ci
    assert low < verdict.ratio < high and low > 1.1


def test_faster_is_faster_not_a_regression():
    [verdict] = judge_wall(side(1, {TRAIN: 0.052}, 8), side(2, {TRAIN: 0.040}, 8), threshold=0.1)
    assert verdict.verdict == FASTER and not verdict.is_regression


def test_a_significant_change_inside_the_noise_floor_is_within_noise():
    noise = NoiseFloor(machine="m", processes=8, wall={TRAIN: 0.15})
    ref, cand = side(1, {TRAIN: 0.040}, 8, spread=0.01), side(2, {TRAIN: 0.044}, 8, spread=0.01)
    [verdict] = judge_wall(ref, cand, threshold=0.05, noise=noise)
    assert verdict.p_adjusted < 0.01 and verdict.verdict == WITHIN_NOISE


def test_the_same_code_twice_is_no_significant_change():
    [verdict] = judge_wall(side(1, {TRAIN: 0.04}, 8), side(9, {TRAIN: 0.04}, 8), threshold=0.1)
    assert verdict.verdict == NO_CHANGE


def test_a_bimodal_case_is_unstable_and_never_gated():
    flips = CaseSamples(INFER, (5e-5, 5e-5, 8e-3, 5e-5, 5e-5, 8e-3, 5e-5, 5e-5))
    steady = CaseSamples(INFER, processes(3, 5e-5, 8))
    [verdict] = judge_wall({INFER: steady}, {INFER: flips}, threshold=0.1)
    assert verdict.verdict == UNSTABLE and not verdict.is_regression


def test_false_discoveries_are_controlled_across_cases():
    # Twenty cases of identical code and one slowed one: only that one may come out slower.
    cases = {f"bench_x.py::bench_x[c{i}]": 0.01 for i in range(20)}
    ref, cand = side(100, cases, 8), side(200, cases, 8)
    slow = "bench_x.py::bench_x[slow]"
    ref[slow], cand[slow] = (
        CaseSamples(slow, processes(5, 0.01, 8)),
        CaseSamples(slow, processes(6, 0.014, 8)),
    )
    verdicts = judge_wall(ref, cand, threshold=0.1)
    assert [v.case for v in verdicts if v.verdict == SLOWER] == [slow]
    assert all(v.p_adjusted >= v.p for v in verdicts)


@pytest.mark.parametrize(
    ("change", "verdict"), [(1.05, SLOWER), (0.95, FASTER), (1.004, NO_CHANGE), (1.015, NO_CHANGE)]
)
def test_instruction_counts_decide_from_one_process(change, verdict):
    ref = {TRAIN: CaseSamples(TRAIN, (0.04,), (59.7e6,))}
    cand = {TRAIN: CaseSamples(TRAIN, (0.04,), (59.7e6 * change,))}
    [result] = judge_instructions(ref, cand, threshold=0.02)
    assert result.verdict == verdict and result.samples == (1, 1)


def test_an_instruction_change_inside_twice_the_noise_floor_is_within_noise():
    noise = NoiseFloor(machine="m", processes=8, instructions={TRAIN: 0.02})
    ref = {TRAIN: CaseSamples(TRAIN, (0.04,), (100.0e6,))}
    cand = {TRAIN: CaseSamples(TRAIN, (0.04,), (103.0e6,))}
    [result] = judge_instructions(ref, cand, threshold=0.02, noise=noise)
    assert result.verdict == WITHIN_NOISE


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


def session_folder(folder: Path, median: float, n: int, seed: int, **kwargs) -> Path:
    for i, value in enumerate(processes(seed, median, n)):
        rounds = [value * f for f in (0.99, 1.0, 1.01)]
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

    [ref] = sessions(load(session_folder(tmp_path / "a", 0.04, 8, 1)))
    [cand] = sessions(load(session_folder(tmp_path / "b", 0.08, 8, 2, machine="m2", cpu="AMD")))
    verdict = judge_sessions(ref, cand, threshold=0.1)
    assert not verdict.same_machine and not verdict.gating
    assert [c.verdict for c in verdict.cases] == [SLOWER] and verdict.regressions == []
    assert any("different machines" in note for note in verdict.notes)
    assert any("no instruction counts" in note for note in verdict.notes)


def test_cli_gate_fails_a_same_machine_slowdown_and_names_the_case(tmp_path, capsys):
    ref = session_folder(tmp_path / "ref", 0.040, 8, 1, session="r")
    cand = session_folder(tmp_path / "cand", 0.052, 8, 2, session="c")
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
    ref = session_folder(tmp_path / "ref", 0.040, 8, 1, session="r")
    cand = session_folder(tmp_path / "cand", 0.040, 8, 7, session="c")
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
    assert "compare --all: 4 step(s) in 1 machine(s)" in out


def test_the_speed_table_keeps_each_case_on_one_line_at_80_columns(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(console, "width", 80)
    sizes = (10, 1_000, 100_000, 10_000_000)
    cases = [f"bench_inference.py::bench_inference[cpu-float32-seed42-eager-n{n}]" for n in sizes]
    for side, seed in (("ref", 1), ("cand", 2)):
        for i, value in enumerate(processes(seed, 0.04, 8)):
            bench_json(tmp_path / side / f"{i:04d}.json", {c: [value] * 3 for c in [*cases, TRAIN]},
                       session=side, process=i, instructions={c: 1e6 for c in cases})  # fmt: skip
    assert main(["compare", str(tmp_path / "ref"), str(tmp_path / "cand")]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("inference", "train"))]
    # One row per case and metric, each whole on its line: the size told apart, the verdict unsplit.
    assert len(rows) == 2 * len(sizes) + 1 and max(len(line) for line in out.splitlines()) <= 80
    assert {row.split()[1] for row in rows if row.startswith("inference")} == {
        "n10", "n1000", "n1e5", "n1e7"
    }  # fmt: skip
    assert all(row.rstrip().endswith("no sig. change") for row in rows), rows
