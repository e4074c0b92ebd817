"""The op-count gate: the ops a step makes decide a case where it has no instruction counts
(CUDA, a host without Valgrind) and explain it where it has; the verdict record keeps them; the
terminal, the report and the history site list the changed ops with their lines.

Records and bench files are built here (tests/op_count_files.py); tests/test_op_counts.py
counts real ones and plants a change end to end."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linreg.cli import main
from linreg.compare.explain_cases import explained
from linreg.compare.speed import judge_ops, judge_sessions
from linreg.compare.stack_gate import judge_stack
from linreg.errors import ResultSetError
from linreg.report.op_words import op_line, op_lines, ops_headline, shows_ops
from linreg.report.speed_words import notes, summary
from linreg.results import kinds
from linreg.results.bench_sessions import CaseSamples, sessions
from linreg.results.load import load_bench, load_speed_verdict
from linreg.results.op_changes import MOVED, OpEvidence
from linreg.results.speed_verdict import (
    FASTER,
    INSTRUCTIONS,
    NO_CHANGE,
    NO_REGRESSION,
    OPS,
    REGRESSED,
    SLOWER,
    UNDECIDED,
    WALL,
    CaseVerdict,
    SpeedVerdict,
)
from tests.instruction_files import HOST_A, KEY, PYTEST_ID, STACK, TRAIN, bench_json
from tests.op_count_files import PLANTED, STEP, op_record, with_op_counts
from tests.profile_files import PROFILES, needs_annotate, with_profile

CLEAN = op_record(case=TRAIN)
PLANT = op_record(STEP + PLANTED, case=TRAIN)


def samples(record, case: str = "case") -> dict[str, CaseSamples]:
    return {case: CaseSamples(case, (0.04,), ops=(record,))}


def bench_side(tmp_path, name: str, record, instructions=None, when="10:00", session=None):
    """A same-machine bench file of the train case keeping ``record``, and its session."""
    path = bench_json(tmp_path / name / PYTEST_ID / "0001_a.json", {TRAIN: instructions},
                      {**STACK, **HOST_A}, session=session or name,
                      when=f"2026-11-29T{when}:00")  # fmt: skip
    with_op_counts(path, {TRAIN: record} if record is not None else {})
    return path


def session_of(path):
    return sessions([load_bench(path)])[0]


# --- the rule -----------------------------------------------------------------------------------

_OPS = ("aten::add_", "aten::exp", "aten::mm", "aten::sum")
_counts = st.dictionaries(st.sampled_from(_OPS), st.integers(1, 4), min_size=1)


@settings(max_examples=300, deadline=None)
@given(_counts, _counts, st.integers(1, 50), st.integers(1, 50))
def test_more_of_an_op_is_slower_fewer_faster_both_undecided_whatever_the_steps(
    reference, candidate, ref_steps, cand_steps
):
    """Counts compare per step, so records over other numbers of steps judge alike."""
    ref = op_record([(op, "f.py", 1, "g", n) for op, n in reference.items()], steps=ref_steps)
    cand = op_record([(op, "f.py", 1, "g", n) for op, n in candidate.items()], steps=cand_steps)
    [verdict] = judge_ops(samples(ref), samples(cand))
    more = any(candidate.get(op, 0) > reference.get(op, 0) for op in _OPS)
    fewer = any(candidate.get(op, 0) < reference.get(op, 0) for op in _OPS)
    expected = {(True, False): SLOWER, (False, True): FASTER, (False, False): NO_CHANGE,
                (True, True): UNDECIDED}[(more, fewer)]  # fmt: skip
    assert verdict.metric == OPS and verdict.outcome == expected
    assert verdict.threshold == 0 and verdict.samples == (1, 1)
    assert Fraction(verdict.candidate).limit_denominator() == sum(candidate.values())
    assert ("cannot say which costs more" in verdict.reason) == (expected == UNDECIDED)
    assert {d.op for d in verdict.ops.changes} == {
        op for op in _OPS if candidate.get(op, 0) != reference.get(op, 0)
    }


def test_ops_that_only_moved_to_other_lines_are_no_change():
    moved = op_record([(op, file, line + 3, fn, n) for op, file, line, fn, n in STEP])
    [verdict] = judge_ops(samples(op_record()), samples(moved))
    assert verdict.outcome == NO_CHANGE and verdict.ops.same
    assert {d.change for d in verdict.ops.changes} == {MOVED}


@pytest.mark.parametrize("other", [{"device": "cuda"}, {"torch": "2.14.0"}, {"engine": "compiled"}])
def test_counts_of_another_device_torch_or_engine_decide_nothing(other):
    """The ops a step makes depend on them: such counts are information, held by the case's
    wall-time verdict."""
    assert judge_ops(samples(op_record()), samples(op_record(STEP + PLANTED, **other))) == []


# --- where it decides, where it explains ---------------------------------------------------------


def test_where_instructions_are_absent_ops_decide_and_the_verdict_says_so(tmp_path):
    ref, cand = bench_side(tmp_path, "r", CLEAN), bench_side(tmp_path, "c", PLANT, when="11:00")
    verdict = judge_sessions(session_of(ref), session_of(cand), threshold=0.1)
    [ops] = [c for c in verdict.cases if c.metric == OPS]
    assert ops.outcome == SLOWER and ops.ratio == pytest.approx(9 / 5)
    assert verdict.verdict == REGRESSED and verdict.regressions == [ops]
    said = " ".join(verdict.notes)
    assert "op counts decide 1 case without instruction counts" in said
    assert "op counts and wall time" in said  # not "wall time alone"
    assert "ops a step ×1.8" in summary(verdict)
    # Read back from its file as it was judged.
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(kinds.envelope(kinds.SPEED_VERDICT, verdict.to_dict())))
    assert load_speed_verdict(path) == verdict


def test_where_instructions_decide_ops_explain_the_instruction_case(tmp_path):
    ref = bench_side(tmp_path, "r", CLEAN, instructions=3.34e8)
    cand = bench_side(tmp_path, "c", PLANT, instructions=3.35e8, when="11:00")
    verdict = judge_sessions(session_of(ref), session_of(cand), threshold=0.1)
    assert not [c for c in verdict.cases if c.metric == OPS]
    [counted] = [c for c in verdict.cases if c.metric == INSTRUCTIONS]
    assert counted.outcome == NO_CHANGE and counted.ops is not None
    assert [d.op for d in counted.ops.added] == ["aten::exp", "aten::sum"]
    assert verdict.verdict == NO_REGRESSION  # instructions decided: within 3 %
    assert "op counts explain 1 instruction case" in " ".join(verdict.notes)
    assert all(c.ops is None for c in verdict.cases if c.metric == WALL)


def test_two_unchanged_runs_list_no_op(tmp_path):
    ref, cand = bench_side(tmp_path, "r", CLEAN), bench_side(tmp_path, "c", CLEAN, when="11:00")
    verdict = judge_sessions(session_of(ref), session_of(cand))
    [ops] = [c for c in verdict.cases if c.metric == OPS]
    assert ops.outcome == NO_CHANGE and ops.ops.changes == () and not shows_ops(ops)
    assert op_lines(ops.ops) == []


def test_the_stack_gate_judges_a_run_without_instruction_counts_by_its_ops(tmp_path):
    baseline = session_of(bench_side(tmp_path, "base", CLEAN, instructions=3.34e8))
    for record, verdict_word, outcome in ((PLANT, REGRESSED, SLOWER),
                                          (CLEAN, NO_REGRESSION, NO_CHANGE)):  # fmt: skip
        run = session_of(bench_side(tmp_path / verdict_word, "run", record, when="11:00"))
        gate = judge_stack(baseline, run, KEY, "baselines")
        [case] = gate.cases
        assert (case.metric, case.outcome, gate.verdict) == (OPS, outcome, verdict_word)
        assert "op counts decide 1 case" in " ".join(notes(gate))
        assert gate.gate.not_counted == ""
    assert summary(gate) == f"ops a step: the same in 1 case, against the baseline of stack {KEY}"


# --- the record ---------------------------------------------------------------------------------


def test_a_schema_3_verdict_still_loads_with_no_ops(tmp_path):
    case = CaseVerdict(TRAIN, INSTRUCTIONS, SLOWER, 1.0, 2.0, (1, 1), 2.0, 0.03)
    record = SpeedVerdict("r", "c", True, True, REGRESSED, (case,)).to_dict()
    path = tmp_path / "v3.json"
    path.write_text(json.dumps({"schema_version": 3, "kind": kinds.SPEED_VERDICT, **record}))
    [read] = load_speed_verdict(path).cases
    assert read == case and read.ops is None


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"reference_per_step": -1}, "reference_per_step must be >= 0"),
        ({"changes": [{"op": ""}]}, "an op entry must be an object with an op name"),
        ({"changes": [{"op": "aten::mm", "reference_per_step": 1, "candidate_per_step": 2,
                       "sites": [{"line": -3}]}]}, "line must be an integer >= 0"),
        ({"stack_differences": "torch"}, "stack_differences must be a list of strings"),
    ],
)  # fmt: skip
def test_malformed_op_evidence_is_refused_by_the_field(tmp_path, change, match):
    evidence = OpEvidence(5.0, 9.0).to_dict()
    case = {**CaseVerdict(TRAIN, OPS, SLOWER, 5, 9, (1, 1), 1.8, 0).to_dict(),
            "ops": {**evidence, **change}}  # fmt: skip
    record = {**SpeedVerdict("r", "c", True, True, REGRESSED).to_dict(), "cases": [case]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(kinds.envelope(kinds.SPEED_VERDICT, record)))
    with pytest.raises(ResultSetError, match=match):
        load_speed_verdict(path)


def test_a_bench_file_with_malformed_op_counts_is_refused_with_its_file(tmp_path):
    path = bench_side(tmp_path, "r", CLEAN)
    data = json.loads(path.read_text())
    data["benchmarks"][0]["extra_info"]["op_counts"]["steps_counted"] = 0
    path.write_text(json.dumps(data))
    with pytest.raises(
        ResultSetError, match=rf"{path.name}: .*{re.escape(TRAIN)}: malformed op counts"
    ):
        load_bench(path)


# --- in words -----------------------------------------------------------------------------------


def test_an_op_line_names_its_count_a_step_and_the_line_that_made_it():
    [verdict] = judge_ops(samples(CLEAN), samples(PLANT))
    lines = {d.op: op_line(d) for d in verdict.ops.changes}
    assert lines["aten::exp"] == "+2 aten::exp a step, from sitecustomize.py:12 _planted_step"
    assert lines["aten::sum"] == "+2 aten::sum a step, from sitecustomize.py:12 _planted_step"
    assert ops_headline(verdict.ops).startswith("+4 ops a step (5 → 9): +2 aten::exp, +2 aten::sum")
    [back] = judge_ops(samples(PLANT), samples(CLEAN))
    assert op_line(back.ops.changes[0]).startswith("−2 aten::")


def test_compare_lists_the_changed_ops_before_exiting_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    ref, cand = bench_side(tmp_path, "r", CLEAN), bench_side(tmp_path, "c", PLANT, when="11:00")
    assert main(["compare", str(ref), str(cand), "--fail-on-regression", "10%"]) == 1
    printed = capsys.readouterr()
    out = printed.out
    assert "Which ops a step changed: train, ops slower" in out
    rows = [" ".join(line.split()) for line in out.splitlines()]
    assert "aten::exp 0 → 2 +2 sitecustomize.py:12 _planted_step" in rows
    assert "aten::sum 1 → 3 +2 sitecustomize.py:12 _planted_step" in rows
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "slower" in printed.err and "ops" in printed.err


def test_explain_lists_the_ops_of_a_case_without_profiles(tmp_path, capsys):
    ref, cand = bench_side(tmp_path, "r", CLEAN), bench_side(tmp_path, "c", PLANT, when="11:00")
    assert main(["explain", str(ref), str(cand), "--case", "train"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "+4 ops a step (5 → 9): +2 aten::exp, +2 aten::sum" in out
    assert "aten::exp 0 → 2 +2 sitecustomize.py:12 _planted_step" in out
    assert "no function list: the reference (" in out


@needs_annotate
def test_same_ops_with_more_instructions_name_the_op_they_moved_inside(tmp_path, capsys):
    """The tiny profiles: at::_ops::mul::call's kernel does more work with the same ops."""
    mul = op_record([("aten::mul", "linreg/model.py", 23, "forward", 1)], case=TRAIN)
    made = []
    for side, count, when in (("reference", 5_000, "10:00"), ("candidate", 7_060, "11:00")):
        path = bench_side(tmp_path, side, mul, instructions=count, when=when)
        made.append(with_profile(path, PROFILES / f"{side}.callgrind"))
    slower = CaseVerdict(TRAIN, INSTRUCTIONS, SLOWER, 5_000, 7_060, (1, 1), 1.412, 0.03,
                         ops=OpEvidence(1.0, 1.0, op_names=("aten::mul",)))  # fmt: skip
    [case] = explained([slower], session_of(made[0]), session_of(made[1]))
    assert case.ops.moved_inside == "aten::mul" and case.ops.moved_inside_per_call > 0
    assert ops_headline(case.ops).startswith("same ops; the instructions moved inside aten::mul")
    assert main(["explain", str(made[0]), str(made[1]), "--case", "train"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "same ops; the instructions moved inside aten::mul" in printed
    assert printed.index("moved inside aten::mul") < printed.index("inclusive: with what")


def test_the_report_lists_the_ops_before_where_the_instructions_went(tmp_path):
    from linreg.report.build import build_report

    ref, cand = bench_side(tmp_path, "r", CLEAN), bench_side(tmp_path, "c", PLANT, when="11:00")
    verdict = judge_sessions(session_of(ref), session_of(cand), threshold=0.1)
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "verdict.json").write_text(
        json.dumps(kinds.envelope(kinds.SPEED_VERDICT, verdict.to_dict()))
    )
    page = build_report([folder], tmp_path / "report.html").path.read_text()
    table = page[page.index('data-table="ops-0"') :]
    assert "<td>aten::exp</td><td>0 → 2</td><td>+2</td><td>sitecustomize.py:12 _planted_step" in (
        table
    )
    assert "Which ops a step changed: train, ops slower (+4 ops a step" in page


def test_the_history_site_lists_where_a_case_s_ops_changed(tmp_path):
    paths = [bench_side(tmp_path / "tree", name, record, when=when, session=name)
             for name, record, when in (("s1", CLEAN, "10:00"), ("s2", CLEAN, "11:00"),
                                        ("s3", PLANT, "12:00"))]  # fmt: skip
    assert paths and main(["history", str(tmp_path / "tree"), "--out", str(tmp_path / "site")]) == 0
    [page] = (tmp_path / "site" / "cases").glob("train*.html")
    text = page.read_text()
    ops = text[text.index('data-table="ops"') :]
    assert "+2 aten::exp a step, from sitecustomize.py:12 _planted_step" in ops
    assert ops.count("<tr class=") == 1  # s1 → s2 changed nothing
