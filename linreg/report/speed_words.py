"""A speed verdict in words: its summary, its headline, its notes and each case's outcome, as
the terminal (`linreg compare`, `ab`, `run`) and the report say them alike."""

from __future__ import annotations

from linreg.results.bench_file import short_labels
from linreg.results.speed_verdict import (
    INSTRUCTIONS,
    NO_CHANGE,
    OPS,
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
        return f"no regression in {len(names)} case{_s(len(names))}: " + _thresholds(verdict)
    undecided = [c for c in verdict.cases if c.case in open_ and c.outcome == UNDECIDED]
    needed = [c.processes_needed for c in undecided if c.processes_needed]
    advice = f"; about {max(needed)} processes a side would decide" if needed else ""
    from linreg.compare.shift import smallest_p  # numpy: not for `linreg --help`

    confidence = verdict.confidence if verdict.confidence is not None else 0.99
    few = {
        c.case for c in undecided
        if c.metric == WALL and smallest_p(*c.samples) > 1 - confidence
    }  # fmt: skip
    if few:
        advice = f" ({len(few)} with too few processes to reach it){advice}"
    return (
        f"undecided: {len(open_)} of {len(names)} cases neither slower nor shown unchanged "
        f"at {percent(confidence)} confidence{advice}"
    )


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
        open_ = [c for c in counted if c.outcome not in (NO_CHANGE, "faster")]
        return (
            f"{len(open_)} of {len(counted)} cases neither slower nor within "
            f"{gate.threshold:.0%} by instructions{_by_ops(counted)} (stack {gate.stack_key})"
        )
    held = f"instructions within {gate.threshold:.0%}"
    if any(c.metric == OPS for c in counted):
        held = f"{held} or" if any(c.metric == INSTRUCTIONS for c in counted) else ""
        held = f"{held} the same ops a step".strip()
    return f"no regression in {len(counted)} cases: {held} (stack {gate.stack_key})"


def _by_ops(counted: list[CaseVerdict]) -> str:
    return " or the same ops a step" if any(c.metric == OPS for c in counted) else ""


def headline(verdict: SpeedVerdict) -> str:
    """The verdict in one short clause, for a last line."""
    names = {c.case for c in verdict.cases}
    if not names:
        return "no case in common"
    if not verdict.same_machine:
        return "different machines: information only"
    if verdict.slower:
        slower = {c.case for c in verdict.slower}
        labels, _ = short_labels(sorted(names))
        return f"{len(slower)} of {len(names)} cases slower: " + ", ".join(
            labels[n] for n in sorted(slower)
        )
    _, open_ = verdict.cleared()
    if not open_:
        return f"no regression in {len(names)} case{_s(len(names))}"
    return f"undecided in {len(open_)} of {len(names)} cases"


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


def _thresholds(verdict: SpeedVerdict) -> str:
    parts = []
    for metric in (INSTRUCTIONS, WALL):
        found = [c for c in verdict.cases if c.metric == metric]
        if found:
            parts.append(f"{metric_word(metric)} within {percent(found[0].threshold)}")
    if any(c.metric == OPS for c in verdict.cases):
        parts.append("the same ops a step")
    return " and ".join(parts)
