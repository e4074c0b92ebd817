"""The panel's "Regressed?": the regression gate's speed verdicts in words, slower cases first,
undecided ones with the processes that would decide them. Green only for an earned "no
regression"; red only where a slower case fails a gating comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from linreg.report.answer import FAIL, INFO, MAX_CASES, NONE, PASS, Answer, Line
from linreg.report.speed_words import case_words, metric_word, summary
from linreg.results.bench_file import short_labels
from linreg.results.speed_verdict import (
    INFORMATION,
    NO_BASELINE,
    NO_REGRESSION,
    OUTCOMES,
    REGRESSED,
    SLOWER,
    WALL,
    CaseVerdict,
    SpeedVerdict,
)
from linreg.units import ratio, sig

# Slower cases first: they are what a reader of a regression looks for.
_CASE_ORDER = ("slower", "undecided", "faster", "no change")
assert set(_CASE_ORDER) == set(OUTCOMES)


def case_rank(case: CaseVerdict) -> int:
    return _CASE_ORDER.index(case.outcome)


def verdict_status(verdict: SpeedVerdict) -> str:
    word = verdict.verdict
    if word == REGRESSED:
        # A slower case fails where the comparison gates; elsewhere it is named, in blue.
        return FAIL if verdict.gating else INFO
    return {NO_REGRESSION: PASS, INFORMATION: INFO}.get(word, NONE)


def verdict_headline(verdict: SpeedVerdict) -> str:
    """The verdict in words, then its summary (which never repeats the verdict's word)."""
    word, said = verdict.verdict, summary(verdict)
    said = said.removeprefix(f"{word}: ")
    if word == REGRESSED:
        # Not gating: no threshold was asked for, or the machine's noise floor is unknown.
        head = "Yes: slower" if verdict.gating else "Slower, reported without gating"
    else:
        head = {
            NO_REGRESSION: "No regression",
            "undecided": "Undecided",
            INFORMATION: "Information only",
            NO_BASELINE: "Not judged",
        }.get(word, word.capitalize())
    return f"{head}: {said}" if said else head


def side(verdict: SpeedVerdict, role: str, names: Mapping[str, str] = {}) -> str:
    """A verdict's side as the report names its series, else as the verdict names it."""
    label = verdict.reference if role == "reference" else verdict.candidate
    series = verdict.reference_series if role == "reference" else verdict.candidate_series
    return names.get(label) or series or label


def _gate_words(verdict: SpeedVerdict) -> str:
    if verdict.gate is not None:
        # `linreg run`'s gate: counts gate on any host of the baseline's stack.
        if not verdict.gating:
            return " (reported, not gating the exit status)"
        machine = "" if verdict.same_machine else "; another host of it"
        return f" (instruction counts gate by stack{machine})"
    if not verdict.same_machine:
        return " (different machines: information, not a gate)"
    if not verdict.gating:
        return " (reported, not gating the exit status)"
    return ""


def regressed_answer(
    speed_verdicts: Sequence[tuple[str, SpeedVerdict]],
    machines: Sequence[str] = (),
    names: Mapping[str, str] = {},
    baseline_lines: Sequence[Line] = (),
    case_labels: Mapping[str, str] = {},
) -> Answer:
    """``names``: a verdict's side labels (session labels) to the report's series names;
    ``baseline_lines``: ratios against a baseline in the inputs, said where no verdict judged;
    ``case_labels``: case ids to the words the report's tables use for them."""
    question = "Regressed?"
    judged = [(s, v) for s, v in speed_verdicts if v.verdict != NO_BASELINE]
    if not judged and baseline_lines:
        # A baseline is in the inputs and was compared with; no verdict judged it.
        return Answer(
            question,
            INFO,
            "Not judged: no speed verdict in the inputs; the ratios against the baseline are "
            "information, not a gate",
            tuple(baseline_lines),
            link="ratios",
        )
    if not speed_verdicts:
        listed = ", ".join(machines) or "this machine"
        return Answer(question, NONE, f"No baseline for machine {listed}: nothing to judge against")
    lines: list[Line] = []
    statuses = []
    for _source, verdict in speed_verdicts:
        status = verdict_status(verdict)
        statuses.append(status)
        # With one verdict its summary is the headline; with several each line carries its own.
        detail = verdict_headline(verdict) if len(speed_verdicts) > 1 else ""
        if verdict.cases:
            sides = (
                f"{side(verdict, 'candidate', names)} against {side(verdict, 'reference', names)}"
            )
            lines.append(Line(sides + _gate_words(verdict), status, detail))
        cases = sorted(verdict.cases, key=case_rank)
        labels, _ = short_labels(sorted({c.case for c in cases}))
        labels.update({k: v for k, v in case_labels.items() if k in labels})
        for case in cases[:MAX_CASES]:
            case_status = FAIL if case.outcome == SLOWER and status == FAIL else ""
            text = f"{case_words(case)}: {labels.get(case.case, case.case)}"
            lines.append(Line(text, case_status, evidence(case)))
        if len(cases) > MAX_CASES:
            lines.append(Line(f"… and {len(cases) - MAX_CASES} more cases below"))
        unstable = sorted({labels.get(c.case, c.case) for c in cases if c.unstable})
        if unstable:
            lines.append(
                Line(
                    f"{len(unstable)} unstable case{'s' if len(unstable) != 1 else ''} "
                    "(processes more than half apart): reported, not gated",
                    "",
                    ", ".join(unstable),
                )
            )
    if FAIL in statuses:
        status = FAIL
    elif statuses and all(s == PASS for s in statuses):
        status = PASS
    elif INFO in statuses and NONE not in statuses:
        status = INFO
    else:
        status = NONE
    if len(speed_verdicts) == 1:
        headline = verdict_headline(speed_verdicts[0][1])
    else:
        words = [v.verdict for _, v in speed_verdicts]
        headline = "; ".join(f"{words.count(w)} {w}" for w in dict.fromkeys(words)).capitalize()
    return Answer(question, status, headline, tuple(lines), link="regression-0")


def interval(case: CaseVerdict) -> str:
    if not case.ci:
        return ""
    level = f" at {sig(case.confidence * 100, 3)} %" if case.confidence else ""
    return f"[{sig(case.ci[0])}, {sig(case.ci[1])}]{level}"


def evidence(case: CaseVerdict) -> str:
    parts = [metric_word(case.metric)]
    if _known(case.ratio):
        parts.append(f"{ratio(case.ratio)} {interval(case)}".strip())
    if case.p is not None:
        parts.append(f"p {sig(case.p, 2)}")
    if case.samples and any(case.samples):
        parts.append(f"{case.samples[0]} vs {case.samples[1]} processes")
    if case.noise_floor is not None:
        term = "noise floor" if case.metric != WALL else "between-session spread"
        parts.append(f"{term} {case.noise_floor:.0%}")
    if case.processes_needed:
        parts.append(f"about {case.processes_needed} processes a side would decide")
    return ", ".join(parts)


def _known(value: float | None) -> bool:
    return value is not None and value == value  # NaN: a figure the record did not hold
