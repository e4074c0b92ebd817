"""The panel of an A/B's report (`linreg ab`, `nox -s ab`): the A/B's own three answers.

Reproduces? is the cross-stack comparison, each run of the candidate's repro matrix against the
same config's run in the reference's (ab.json's numeric verdict); each stack's own checks are a
line. How fast? is each case, candidate against reference, with the speed verdict's ratios and
outcomes. Regressed? is the speed verdict itself. The sides are named by their series (what
differs between them: "torch 2.13.0", "torch 2.14.1"), never by a file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from linreg.report.ab_stack_words import stacks_clause, stacks_headline
from linreg.report.answer import FAIL, INFO, NONE, PASS, Answer, Line, Verdicts
from linreg.report.checks import describe, reached_words
from linreg.report.inputs import ReportInputs
from linreg.report.regression import regressed_answer
from linreg.report.speed import labelled, median_with_spread
from linreg.results.ab_result import ROLES, AbPair, AbResult, StackDifference
from linreg.results.bench_file import case_parts
from linreg.results.repro_checks import ReproCheck
from linreg.results.run_comparison import LEVELS
from linreg.results.speed_verdict import (
    INSTRUCTIONS,
    NO_CHANGE,
    OPS,
    WALL,
    CaseVerdict,
    SpeedVerdict,
)
from linreg.units import percent, ratio, seconds, sig

# Runs that differ named in the panel; every pair is in the A/B section below.
MAX_PAIRS = 3
NBSP = "\u00a0"


def ab_verdicts(
    inputs: ReportInputs,
    names: Mapping[str, str],
    case_labels: Mapping[str, str],
    answers: Verdicts,
) -> Verdicts:
    """The first A/B's answers; ``answers`` are the report's own, kept where the A/B has none
    (no benchmark processes finished: no speed verdict)."""
    path, ab = inputs.ab_results[0]
    speed = ab_speed_verdict(ab, inputs.speed_verdicts)
    sides = side_names(ab, speed, names)
    failures = list(ab.failures)
    reproduces = _with_failures(
        ab_reproduces(path.parent, ab, inputs.checks, inputs.repro_folders, sides),
        [f for f in failures if "repro" in f],
    )
    bench_failures = [f for f in failures if "repro" not in f]
    if speed is None:
        why = "the A/B wrote no speed verdict (its benchmark processes gave no sessions)"
        how_fast = _with_failures(answers.speed, bench_failures)
        regressed = _with_failures(Answer("Regressed?", NONE, f"Not judged: {why}"), bench_failures)
        return Verdicts(reproduces, how_fast, regressed)
    how_fast = _with_failures(
        ab_speed(speed, inputs.bench, sides, case_labels, ab.difference), bench_failures
    )
    regressed = regressed_answer([(str(path), speed)], inputs.machines(), names, (), case_labels)
    return Verdicts(reproduces, how_fast, regressed)


def ab_speed_verdict(
    ab: AbResult, speed_verdicts: Sequence[tuple[str, SpeedVerdict]]
) -> SpeedVerdict | None:
    speed = ab.speed
    if speed is None:
        return None
    sides = (speed.reference, speed.candidate)
    found = [v for _, v in speed_verdicts if (v.reference, v.candidate) == sides]
    return found[0] if found else speed


def side_names(
    ab: AbResult, speed: SpeedVerdict | None, names: Mapping[str, str]
) -> dict[str, str]:
    """Each role's name: its series in the report, else what its stack says of itself."""
    found = {}
    for role in ROLES:
        label = None if speed is None else (speed.reference if role == "reference"
                                            else speed.candidate)  # fmt: skip
        name = names.get(label) if label else None
        stack = ab.stacks.get(role)
        torch = stack.torch if stack is not None else ""
        found[role] = name or (f"{role} (torch {torch})" if torch else role)
    if found["reference"] == found["candidate"]:
        found = {role: f"{role} ({name})" for role, name in found.items()}
    return found


def _with_failures(answer: Answer, failures: Sequence[str]) -> Answer:
    if not failures:
        return answer
    lines = tuple(Line(f"✗ {failure}", FAIL) for failure in failures)
    return replace(answer, status=FAIL, lines=(*lines, *answer.lines))


def ab_reproduces(
    folder: Path,
    ab: AbResult,
    checks: Sequence[tuple[str, ReproCheck]],
    repro_folders: Mapping[str, Path],
    sides: Mapping[str, str],
) -> Answer:
    question = "Reproduces?"
    reference, candidate = sides["reference"], sides["candidate"]
    numeric = ab.numeric
    pairs = numeric.pairs
    own = _own_checks(folder, checks, repro_folders, sides)
    own_lines = (own,) if own is not None else ()
    own_status = FAIL if own is not None and own.status == FAIL else None
    if not pairs:
        why = {
            "not run": "the A/B ran no repro matrix",
            "no run in common": "the two repro matrices have no run in common",
        }.get(numeric.verdict, numeric.verdict)
        return Answer(question, own_status or NONE, f"Not compared across the stacks: {why}",
                      own_lines)  # fmt: skip
    worst = max((p.level for p in pairs), key=LEVELS.index)
    differ = sorted((p for p in pairs if p.level != "a"),
                    key=lambda p: (-LEVELS.index(p.level), p.run))  # fmt: skip
    n = len(pairs)
    if worst == "a":
        status = PASS
        headline = (
            f"Yes: bit-identical: {candidate} and {reference} agree bit for bit in all {n} runs"
        )
    elif worst == "d":
        ending = [p for p in pairs if p.level == "d"]
        status = FAIL
        headline = (f"No: {len(ending)} of {n} runs end differently with {candidate} than with "
                    f"{reference}")  # fmt: skip
    else:
        status = INFO
        headline = (
            f"Not bit-identical: {len(differ)} of {n} runs differ between {candidate} and "
            f"{reference}; the worst is {_level_words(differ[0])}"
        )
    lines = [
        Line(f"{p.run}: {_level_words(p)}", FAIL if p.level == "d" else "", _pair_figures(p))
        for p in differ[:MAX_PAIRS]
    ]
    if len(differ) > MAX_PAIRS:
        lines.append(Line(f"… and {len(differ) - MAX_PAIRS} more runs that differ", link="ab"))
    if own_status == FAIL:
        status = FAIL
    return Answer(question, status, headline, (*lines, *own_lines), link="ab")


def _level_words(pair: AbPair) -> str:
    return reached_words(pair.level, pair.horizon)


def _pair_figures(pair: AbPair) -> str:
    parts = []
    if pair.first_bitwise_difference_epoch is not None:
        parts.append(f"first difference at epoch {pair.first_bitwise_difference_epoch}")
    if pair.final_weight is not None:
        reference, candidate = pair.final_weight
        parts.append(f"final weight {sig(candidate, 6)} against {sig(reference, 6)}")
    return "; ".join(parts)


def _own_checks(
    folder: Path,
    checks: Sequence[tuple[str, ReproCheck]],
    repro_folders: Mapping[str, Path],
    sides: Mapping[str, str],
) -> Line | None:
    """Each stack's own repro checks (determinism, consistency) in one line."""
    said, failing = [], []
    for role in ROLES:
        root = folder / role
        own = [describe(check, name) for name, check in checks
               if name in repro_folders and repro_folders[name].is_relative_to(root)]  # fmt: skip
        if not own:
            continue
        holding = sum(t.holds for t in own)
        said.append(f"{sides[role]} {holding} of {len(own)} hold")
        failing += [f"{sides[role]}: {t.title}" for t in own if not t.holds]
    if not said:
        return None
    text = "Each stack's own checks: " + "; ".join(said)
    return Line(text, FAIL if failing else "", "; ".join(failing[:2]), link="checks")


def ab_speed(
    verdict: SpeedVerdict,
    bench: pd.DataFrame | None,
    sides: Mapping[str, str],
    case_labels: Mapping[str, str],
    difference: StackDifference | None = None,
) -> Answer:
    """Each case, candidate against reference: both medians, and each metric's ratio with the
    outcome the speed verdict earned for it; where the two torch builds are of other flavours
    (a CPU build against a CUDA one), that first, with how to compare like with like."""
    question = "How fast?"
    reference, candidate = sides["reference"], sides["candidate"]
    by_metric: dict[str, dict[str, CaseVerdict]] = {WALL: {}, INSTRUCTIONS: {}, OPS: {}}
    for case in verdict.cases:
        by_metric[case.metric][case.case] = case
    ids = _in_reading_order(list(dict.fromkeys(c.case for c in verdict.cases)), bench)
    rows = _rows_of(bench, verdict)
    table = pd.DataFrame(
        [
            {
                "case": case_labels.get(case, case),
                reference: _median(rows.get(("reference", case)), by_metric, case, "reference"),
                candidate: _median(rows.get(("candidate", case)), by_metric, case, "candidate"),
                "wall time": _outcome(by_metric[WALL].get(case)),
                "instructions": _outcome(by_metric[INSTRUCTIONS].get(case)),
            }
            for case in ids
        ]
    )
    if not table.empty and (table["instructions"] == "").all():
        table = table.drop(columns="instructions")
    flavours = difference is not None and difference.flavour_differs
    differ = f" ({stacks_clause(difference).split(': ', 1)[-1]})" if flavours else ""
    headline = f"{candidate} against {reference}{differ}: " + _speed_clause(
        ids, by_metric, case_labels
    )
    samples = next((c.samples for c in verdict.cases if c.metric == WALL and any(c.samples)),
                   None)  # fmt: skip
    machine = _machine_of(bench, verdict)
    where = (f"Same machine{f' ({machine})' if machine else ''}" if verdict.same_machine
             else "Different machines: information, not a verdict")  # fmt: skip
    note = f"{where}, {samples[0]} vs {samples[1]} processes" if samples else where
    if verdict.interleaved:
        note += ", interleaved A B A B"
    note += "; ratios are candidate ÷ reference (below 1: faster)"
    lines = (Line(stacks_headline(difference)),) if flavours else ()
    return Answer(question, INFO, headline, (*lines, Line(note)), table=table,
                  link="regression-0")  # fmt: skip


def _machine_of(bench: pd.DataFrame | None, verdict: SpeedVerdict) -> str:
    if bench is None or bench.empty:
        return ""
    mine = bench[bench["session"] == verdict.reference]
    return str(mine["machine"].iloc[0]) if not mine.empty else ""


def _in_reading_order(ids: list[str], bench: pd.DataFrame | None) -> list[str]:
    if bench is None or bench.empty:
        return ids
    order = list(dict.fromkeys(labelled(bench)["fullname"].astype(str)))
    rank = {name: i for i, name in enumerate(order)}
    return sorted(ids, key=lambda name: rank.get(name, len(rank)))


def _rows_of(bench: pd.DataFrame | None, verdict: SpeedVerdict) -> dict[tuple[str, str], pd.Series]:
    """The bench rows of the verdict's two sessions, by (role, case id)."""
    if bench is None or bench.empty:
        return {}
    rows = {}
    for role, session in (("reference", verdict.reference), ("candidate", verdict.candidate)):
        mine = bench[bench["session"] == session]
        for _, row in mine.iterrows():
            rows[(role, str(row["fullname"]))] = row
    return rows


def _median(
    row: pd.Series | None, by_metric: dict[str, dict[str, CaseVerdict]], case: str, role: str
) -> str:
    if row is not None:
        text = median_with_spread(row)
    else:
        wall = by_metric[WALL].get(case)
        value = None if wall is None else getattr(wall, role)
        text = seconds(value) if value is not None and not math.isnan(value) else ""
    return text.replace(" ", NBSP)  # "108 ms ± 1.4 ms" on one line


def _outcome_word(case: CaseVerdict) -> str:
    if case.outcome == NO_CHANGE and not math.isnan(case.threshold):
        return f"no change beyond {percent(case.threshold)}"
    return case.outcome


def _outcome(case: CaseVerdict | None) -> str:
    if case is None:
        return ""
    word = _outcome_word(case).replace(" %", f"{NBSP}%")
    if math.isnan(case.ratio):
        return word
    return f"{ratio(case.ratio)} {word}"


def _speed_clause(
    ids: list[str],
    by_metric: dict[str, dict[str, CaseVerdict]],
    case_labels: Mapping[str, str],
) -> str:
    """The tutorial's run in wall time where it was measured, else the number of cases."""
    train = next((c for c in ids if case_parts(c)[0] == "train" and c in by_metric[WALL]), None)
    n = len(ids)
    cases = f"{n} case{'s' if n != 1 else ''} compared"
    if train is None:
        return cases + "."
    case = by_metric[WALL][train]
    took = f"{seconds(case.candidate)} against {seconds(case.reference)}"
    return (
        f"the tutorial's 500 epochs {ratio(case.ratio)} in wall time ({took}, "
        f"{_outcome_word(case)}); {cases}."
    )
