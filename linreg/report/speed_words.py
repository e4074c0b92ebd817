"""A speed verdict in words: its summary, its headline, its notes and each case's outcome, as
the terminal (`linreg compare`, `ab`, `run`) and the report say them alike."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from linreg.results.bench_file import short_labels
from linreg.results.speed_verdict import (
    DEFAULT_CONFIDENCE,
    FASTER,
    INSTRUCTIONS,
    NO_CHANGE,
    OPS,
    SLOWER,
    UNDECIDED,
    UNDECIDED_VERDICT,
    WALL,
    CaseVerdict,
    SpeedVerdict,
)
from linreg.units import percent

HOW_TO_MAKE = "linreg bench --quick --baseline on a machine of this stack, then commit it"


def case_words(case: CaseVerdict) -> str:
    """The outcome in words, as the table, the report and the summary say it."""
    if case.outcome == NO_CHANGE:
        if case.metric == OPS:
            return "the same ops a step"
        return f"no change beyond {percent(case.threshold)}"
    if case.outcome == UNDECIDED:
        return f"undecided ({case.reason})" if case.reason else UNDECIDED
    return case.outcome


def metric_word(metric: str) -> str:
    return {WALL: "wall time", OPS: "ops a step"}.get(metric, "instructions")


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def summary(verdict: SpeedVerdict) -> str:
    """The verdict in one sentence (never repeating the verdict's own word)."""
    if verdict.gate is not None:
        return _gate_summary(verdict)
    if not verdict.cases:
        return "no case in common"
    names = verdict.case_names
    labels, _ = short_labels(names)
    by_case: dict[str, list[str]] = {}
    for c in verdict.slower:
        by_case.setdefault(c.case, []).append(f"{metric_word(c.metric)} ×{c.ratio:.3g}")
    slower = "; ".join(f"{labels[name]} ({', '.join(m)})" for name, m in by_case.items())
    if not verdict.same_machine:
        text = "different machines: ratios are information, not a verdict"
        return f"{text}; slower there: {slower}" if slower else text
    _, open_ = verdict.cleared()
    if verdict.slower:
        count = len({c.case for c in verdict.slower})
        return f"{count} of {len(names)} cases slower: {slower}"
    if not open_:
        # Cleared, each metric saying what it earned: a case cleared by its count may still
        # be undecided by wall time, and that is said, with what would decide it.
        return earned(verdict)
    undecided = [c for c in verdict.cases if c.case in open_ and c.outcome == UNDECIDED]
    return (
        f"undecided: {len(open_)} of {len(names)} cases neither slower nor shown unchanged "
        f"at {percent(_confidence(verdict))} confidence{_advice(undecided, verdict)}"
    )


def earned(verdict: SpeedVerdict, cases: Sequence[CaseVerdict] | None = None) -> str:
    """What each metric earned, instructions first: "instructions: no change beyond 3 % in 5
    cases; wall time: undecided in 5 (8 vs 8 processes; about 24 processes a side would
    decide)"."""
    cases = verdict.cases if cases is None else cases
    said = []
    for metric in (INSTRUCTIONS, OPS, WALL):
        mine = [c for c in cases if c.metric == metric]
        if not mine:
            continue
        counts = Counter(c.outcome for c in mine)
        parts = [
            f"{_outcome_word(outcome, mine)} in {counts[outcome]}"
            for outcome in (SLOWER, FASTER, NO_CHANGE, UNDECIDED)
            if counts[outcome]
        ]
        text = f"{metric_word(metric)}: {', '.join(parts)} case{_s(len(mine))}"
        undecided = [c for c in mine if c.outcome == UNDECIDED]
        if undecided and metric == WALL:
            text += f" ({_samples(undecided)}{_advice(undecided, verdict, ';')})"
        said.append(text)
    return "; ".join(said)


def _outcome_word(outcome: str, cases: Sequence[CaseVerdict]) -> str:
    if outcome != NO_CHANGE:
        return outcome
    if cases[0].metric == OPS:
        return "the same"  # "ops a step: the same in 5 cases"
    return f"no change beyond {percent(cases[0].threshold)}"


def _samples(cases: Sequence[CaseVerdict]) -> str:
    found = list(dict.fromkeys(c.samples for c in cases))
    if len(found) == 1:
        return f"{found[0][0]} vs {found[0][1]} processes"
    return "processes " + ", ".join(f"{n} vs {m}" for n, m in found[:3])


def _confidence(verdict: SpeedVerdict) -> float:
    return verdict.confidence if verdict.confidence is not None else DEFAULT_CONFIDENCE


def _advice(undecided: Sequence[CaseVerdict], verdict: SpeedVerdict, sep: str = "") -> str:
    """What would decide the undecided cases: the processes a side (the power table's), or that
    some sides are too small to reach the confidence level at all."""
    needed = [c.processes_needed for c in undecided if c.processes_needed]
    advice = f"{sep or ';'} about {max(needed)} processes a side would decide" if needed else ""
    from linreg.compare.shift import smallest_p  # numpy: not for `linreg --help`

    confidence = _confidence(verdict)
    few = {
        c.case for c in undecided
        if c.metric == WALL and smallest_p(*c.samples) > 1 - confidence
    }  # fmt: skip
    if few:
        reach = f"{len(few)} with too few processes to reach {percent(confidence)}"
        return f"{sep} {reach}{advice}" if sep else f" ({reach}){advice}"
    wall = [c for c in undecided if c.metric == WALL]
    if needed or not wall:
        return advice
    if not verdict.interleaved and all(c.noise_floor is None for c in wall):
        return f"{sep or ';'} the sides ran apart and no between-session spread is measured"
    from linreg.compare.power import power_table

    table = power_table()
    most = f" (up to {max(table.tried)} a side)" if table is not None else ""
    return f"{sep or ';'} no process count the simulation tried{most} decides at this spread"


def _gate_summary(verdict: SpeedVerdict) -> str:
    gate = verdict.gate
    assert gate is not None
    counted = [c for c in verdict.cases if c.metric != WALL]
    if not gate.has_baseline:
        return f"no instruction baseline for stack {gate.stack_key} (make one: {HOW_TO_MAKE})"
    regressions = [c for c in verdict.cases if c.is_regression]
    if regressions:
        worst = max(regressions, key=lambda c: c.ratio)
        return (
            f"{len(regressions)} of {len(verdict.cases)} cases slower; worst {worst.case} "
            f"({worst.metric}) ×{worst.ratio:.4g}, stack {gate.stack_key}"
        )
    if not counted:
        return f"not judged: {gate.not_counted or 'no case counted on both sides'}"
    if verdict.verdict == UNDECIDED_VERDICT:
        open_ = [c for c in counted if c.outcome not in (NO_CHANGE, FASTER)]
        return (
            f"{len(open_)} of {len(counted)} cases neither slower nor within "
            f"{gate.threshold:.0%} by instructions{_by_ops(counted)} (stack {gate.stack_key})"
        )
    return f"{earned(verdict)}, against the baseline of stack {gate.stack_key}"


def _by_ops(counted: list[CaseVerdict]) -> str:
    return " or the same ops a step" if any(c.metric == OPS for c in counted) else ""


def headline(verdict: SpeedVerdict) -> str:
    """The verdict in one short clause, for a last line."""
    names = {c.case for c in verdict.cases}
    if not names:
        return "no case in common"
    if verdict.slower:
        slower = {c.case for c in verdict.slower}
        labels, _ = short_labels(sorted(names))
        lead = "" if verdict.same_machine or verdict.gate is not None else "different machines: "
        return f"{lead}{len(slower)} of {len(names)} cases slower: " + ", ".join(
            labels[n] for n in sorted(slower)
        )
    if not verdict.same_machine and verdict.gate is None:
        return "different machines: information only"
    _, open_ = verdict.cleared()
    if open_:
        return f"undecided in {len(open_)} of {len(names)} cases"
    undecided = [c for c in verdict.cases if c.outcome == UNDECIDED]
    if not undecided:
        return f"no regression in {len(names)} case{_s(len(names))}"
    # Cleared by instruction counts; wall time said apart, as it did not earn "no change".
    by = {c.metric for c in verdict.cases if c.outcome in (NO_CHANGE, FASTER)}
    metrics = " and ".join(metric_word(m) for m in (INSTRUCTIONS, WALL) if m in by)
    still = {c.case for c in undecided}
    return (
        f"no regression by {metrics} in {len(names)} case{_s(len(names))}; "
        f"{' and '.join(sorted({metric_word(c.metric) for c in undecided}))} undecided in "
        f"{len(still)}"
    )


def notes(verdict: SpeedVerdict) -> list[str]:
    """What the judge observed, then, for a gate, the wall-time comparison beside it and the
    baseline's cases this run did not count."""
    said = list(verdict.notes)
    gate = verdict.gate
    if gate is None:
        return said
    if gate.wall is not None:
        word = "gates" if gate.wall_gates else "information, not a gate"
        said.append(f"wall time against this machine's baseline ({word}): {summary(gate.wall)}")
    elif gate.wall_missing:
        said.append(f"wall time: {gate.wall_missing}")
    if gate.uncounted:
        said.append(f"baseline cases not counted in this run: {', '.join(gate.uncounted)}")
    return said
