"""A speed verdict in words says what each metric earned: instructions that cleared every case
do not make undecided wall time read "within 10 %", in the terminal, the report or `linreg
run`'s gate, and the terminal shows every interval the verdict holds."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from linreg.compare.speed import judge_sessions
from linreg.report.regression import evidence, regressed_answer
from linreg.report.speed_words import headline, notes, summary
from linreg.results.bench_sessions import sessions
from linreg.results.load import load_bench
from linreg.results.speed_verdict import INSTRUCTIONS, NO_REGRESSION, UNDECIDED, WALL
from tests.bench_sessions_data import write_session

START = dt.datetime(2026, 11, 29, 3, 14, tzinfo=dt.timezone.utc)
COUNTS = {"train": 9.1e6, "inference": 8.0e4}


@pytest.fixture(scope="module")
def ab_undecided_by_wall(tmp_path_factory):
    """An A/B of the same code, 8 processes a side interleaved, a process spread of 15 %: every
    instruction count unchanged, every wall time undecided."""
    root = tmp_path_factory.mktemp("ab")
    rng = random.Random(5)
    sides = {}
    for offset, role in enumerate(("reference", "candidate")):
        paths = write_session(root / role, machine="m", session=f"s-{role}", processes=8,
                              started=START + dt.timedelta(seconds=10 * offset), rng=rng,
                              spread=0.15, instructions=COUNTS)  # fmt: skip
        (sides[role],) = sessions(load_bench(p) for p in paths)
    return judge_sessions(sides["reference"], sides["candidate"])


def test_undecided_wall_time_is_said_undecided_beside_the_counts_that_cleared(
    ab_undecided_by_wall,
):
    verdict = ab_undecided_by_wall
    assert verdict.verdict == NO_REGRESSION  # cleared by instruction counts
    wall = [c for c in verdict.cases if c.metric == WALL]
    assert len(wall) == 5 and all(c.outcome == UNDECIDED for c in wall)
    said = summary(verdict)
    assert said.startswith(
        "instructions: no change beyond 3 % in 5 cases; wall time: undecided in 5 cases "
        "(8 vs 8 processes; "
    )
    assert "within 10 %" not in said and "no regression in" not in said
    assert headline(verdict) == (
        "no regression by instructions in 5 cases; wall time undecided in 5"
    )
    panel = regressed_answer([("speed-verdict.json", verdict)])
    assert panel.headline == f"No regression: {said}"
    assert all("wall time within" not in line.text for line in panel.lines)


def test_the_terminal_and_the_report_show_an_undecided_case_s_interval(
    ab_undecided_by_wall, capsys
):
    from linreg.cli.speed_table import print_speed_verdict
    from linreg.units import sig

    verdict = ab_undecided_by_wall
    print_speed_verdict(verdict, wide=False)
    rows = [r for r in capsys.readouterr().out.splitlines() if "undecided (8 vs 8)" in r]
    case = next(c for c in verdict.cases if c.metric == WALL)
    assert case.ci is not None
    shown = f"{sig(case.ci[0], 2)}–{sig(case.ci[1], 2)}"
    assert len(rows) == 5 and all(shown in r for r in rows), rows
    assert f"[{sig(case.ci[0])}, {sig(case.ci[1])}] at 99 %" in evidence(case)


# --- `linreg run`'s gate --------------------------------------------------------------------------


def test_the_gate_says_what_it_earned_and_that_it_gates_on_another_host_of_the_stack(tmp_path):
    from linreg.compare.stack_gate import judge_stack
    from tests.instruction_files import HOST_A, HOST_B, INFER, KEY, STACK, TRAIN, bench_json

    base = bench_json(tmp_path / "base.json", {TRAIN: 334e6, INFER: 95_600}, {**STACK, **HOST_A})
    run = bench_json(tmp_path / "run.json", {TRAIN: 333e6, INFER: 95_700}, {**STACK, **HOST_B},
                     machine="amd-epyc-7b13-8c", session="run")  # fmt: skip
    # Wall time against this machine's own baseline: one process a side, undecided.
    here = bench_json(tmp_path / "here.json", {TRAIN: 333e6, INFER: 95_700}, {**STACK, **HOST_B},
                      machine="amd-epyc-7b13-8c", session="here",
                      when="2026-11-28T10:00:00")  # fmt: skip
    [reference], [candidate], [own] = (sessions([load_bench(p)]) for p in (base, run, here))
    wall = judge_sessions(own, candidate, threshold=0.1)
    gate = judge_stack(reference, candidate, KEY, "baselines", wall=wall)
    assert gate.verdict == NO_REGRESSION and gate.gating and not gate.same_machine
    said = summary(gate)
    assert (
        said
        == f"instructions: no change beyond 3 % in 2 cases, against the baseline of stack {KEY}"
    )
    assert not any("wall time within" in n for n in notes(gate))
    [wall_note] = [n for n in notes(gate) if n.startswith("wall time against")]
    assert "wall time: undecided in 2 cases (1 vs 1 processes" in wall_note
    panel = regressed_answer([("speed-verdict.json", gate)])
    assert panel.headline == f"No regression: {said}"
    sides = panel.lines[0].text
    assert "information, not a gate" not in sides and "different machines" not in sides
    assert "instruction counts gate by stack; another host of it" in sides
    assert headline(gate) == "no regression in 2 cases"
    assert {c.metric for c in gate.cases} == {INSTRUCTIONS}
