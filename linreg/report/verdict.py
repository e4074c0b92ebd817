"""The report's three answers, from what its inputs hold: does it reproduce, how fast is it,
did it regress. Values only; ``linreg.report.panel`` draws them.

Each answer is computed from result files alone (checks.json, benchmark files, a speed verdict),
so a job that exits 1 for a failing check and the report of its folder say the same thing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from linreg.report.checks import CheckText, counts_by_kind, sorted_checks
from linreg.report.environment import differing_keys
from linreg.report.speed import baseline_ratio, headline_cases, speed_ratios
from linreg.units import integer, missing, ratio, seconds, si, sig

PASS, FAIL, NONE, INFO = "pass", "fail", "none", "info"
# Failing checks and judged cases named in the panel, so that all three answers fit the first
# screen; the rest are in the tables below.
MAX_CHECKS, MAX_CASES = 5, 4


@dataclass(frozen=True)
class Line:
    text: str
    status: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Answer:
    question: str
    status: str  # pass, fail, none (not answered: nothing to answer from), info
    headline: str
    lines: tuple[Line, ...] = ()
    table: pd.DataFrame | None = None
    link: str = ""  # the section holding the full evidence


@dataclass(frozen=True)
class Verdicts:
    reproduces: Answer
    speed: Answer
    regressed: Answer

    @property
    def answers(self) -> tuple[Answer, Answer, Answer]:
        return (self.reproduces, self.speed, self.regressed)

    @property
    def ok(self) -> bool:
        """False when any answer is a failure: what the job's exit status should say."""
        return all(a.status != FAIL for a in self.answers)


@dataclass
class VerdictInputs:
    """What the answers are computed from (a part of ReportInputs)."""

    checks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    unfinished_repro: list[str] = field(default_factory=list)
    bench: pd.DataFrame | None = None
    speed_verdicts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    job_steps: list[dict[str, Any]] = field(default_factory=list)
    machines: list[str] = field(default_factory=list)
    series_environments: dict[str, dict[str, Any]] = field(default_factory=dict)


# Which answer a failed step of `linreg run` leaves without its evidence.
_STEP_ANSWERS = {"train": 0, "repro": 0, "bench": 1, "speed": 2}


def verdicts(inputs: VerdictInputs) -> Verdicts:
    answers = [
        reproduces_answer(inputs.checks, inputs.unfinished_repro),
        speed_answer(inputs.bench, inputs.speed_verdicts, inputs.series_environments),
        regressed_answer(inputs.speed_verdicts, inputs.machines),
    ]
    # A step that failed before writing its results would otherwise leave its answer grey
    # ("not checked") while the job exits 1: the panel says what failed instead.
    for step in inputs.job_steps:
        index = _STEP_ANSWERS.get(step["name"])
        if step["ok"] or index is None:
            continue
        answer = answers[index]
        line = Line(f"✗ the {step['name']} step failed", FAIL, step["detail"])
        headline = (
            answer.headline if answer.status == FAIL else f"No: the {step['name']} step failed"
        )
        answers[index] = replace(
            answer, status=FAIL, headline=headline, lines=(line, *answer.lines)
        )
    return Verdicts(*answers)


def reproduces_answer(
    checks: list[tuple[str, dict[str, Any]]], unfinished: list[str] = ()
) -> Answer:
    question = "Reproduces?"
    texts = sorted_checks(checks)
    unfinished_lines = tuple(
        Line(f"repro set {name} is unfinished: it has no checks.json", FAIL) for name in unfinished
    )
    if not texts:
        if unfinished_lines:
            return Answer(question, FAIL, "Not answered: the repro run did not finish",
                          unfinished_lines)  # fmt: skip
        return Answer(question, NONE, "Not checked: the inputs hold no repro result set")
    failing = [t for t in texts if not t.holds]
    counts = " · ".join(f"{kind} {held} of {total}" for kind, held, total in counts_by_kind(texts))
    coverage = _golden_coverage(texts)
    if failing:
        verb = "fails" if len(failing) == 1 else "fail"
        lines = [_failing_line(t) for t in failing[:MAX_CHECKS]]
        if len(failing) > MAX_CHECKS:
            more = len(failing) - MAX_CHECKS
            lines.append(Line(f"… and {more} more failing checks below", FAIL))
        lines.append(Line(f"{counts}; {coverage}"))
        return Answer(
            question,
            FAIL,
            f"No: {len(failing)} of {len(texts)} checks {verb}",
            (*unfinished_lines, *lines),
            link="checks",
        )
    status = FAIL if unfinished_lines else PASS
    headline = f"Yes: all {len(texts)} checks hold"
    return Answer(
        question, status, headline, (*unfinished_lines, Line(f"{counts}; {coverage}")),
        link="checks",
    )  # fmt: skip


def _failing_line(text: CheckText) -> Line:
    detail = f"required {text.required}; reached {text.reached}"
    if text.figures:
        detail += f" ({text.figures})"
    return Line(f"✗ {text.title}", FAIL, detail)


def _golden_coverage(texts: list[CheckText]) -> str:
    runs = {t.subject for t in texts if t.kind == "determinism"}
    golden = {t.subject for t in texts if t.kind == "golden"}
    if not golden:
        return "no run checked against a golden reference"
    return f"{len(golden)} of {len(runs) or len(golden)} runs checked against golden references"


def speed_answer(
    bench: pd.DataFrame | None,
    speed_verdicts: list[tuple[str, dict[str, Any]]] = (),
    environments: dict[str, dict[str, Any]] | None = None,
) -> Answer:
    question = "How fast?"
    if bench is None or bench.empty:
        return Answer(question, NONE, "Not measured: the inputs hold no benchmark results")
    cases = headline_cases(bench)
    # Keyed by case and metric: a case's wall time and its instruction count are two verdicts.
    judged = {(c["case"], c["metric"]): c for _, v in speed_verdicts for c in v.get("cases", [])}
    rows = []
    for _, row in cases.iterrows():
        rows.append(
            {
                "case": f"{row['kind']}: {row['case']}",
                "machine": row["series"],
                "median": _median_with_spread(row),
                "rounds": integer(row["rounds"]),
                "per epoch / bandwidth": _derived(row),
                "vs baseline": _against_baseline(bench, row, judged),
            }
        )
    table = pd.DataFrame(rows)
    if not table.empty and (table["vs baseline"] == "").all():
        table = table.drop(columns="vs baseline")
    if len(set(cases["series"])) == 1 and not table.empty:
        table = table.drop(columns="machine")
    machines = ", ".join(dict.fromkeys(cases["series"].astype(str)))
    n = len(bench)
    headline = f"{n} benchmark case{'s' if n != 1 else ''} measured on {machines}"
    train = cases[cases["kind"] == "train"]
    if not train.empty:
        first = train.iloc[0]
        headline = (
            f"The tutorial's 500 epochs take {seconds(first['median_s'])} "
            f"({first['case']}, {first['series']}); {n} cases measured"
        )
    lines = tuple(_comparison_lines(bench, environments or {}))
    return Answer(question, INFO, headline, lines, table=table, link="timings")


def _comparison_lines(bench: pd.DataFrame, environments: dict[str, dict[str, Any]]) -> list[Line]:
    """One line per machine compared with the first: the typical time ratio over the cases both
    measured, and what differs between them (what the ratio is a ratio of)."""
    ratios = speed_ratios(bench)
    between = ratios[ratios["reference"] != ratios["candidate"]]
    lines = []
    for comparison, part in between.groupby("comparison", sort=False):
        reference, candidate = part["reference"].iloc[0], part["candidate"].iloc[0]
        typical = math.exp(sum(math.log(r) for r in part["ratio"]) / len(part))
        train = part[part["kind"] == "train"]
        on_train = f"{ratio(train['ratio'].iloc[0])} on the tutorial's run, " if len(train) else ""
        text = (
            f"{comparison}: {on_train}{ratio(typical)} geometric mean over "
            f"{len(part)} matching case{'s' if len(part) != 1 else ''}"
        )
        detail = ""
        if reference in environments and candidate in environments:
            diff = differing_keys(environments[reference], environments[candidate])
            detail = f"they differ in {', '.join(diff)}" if diff else "same fingerprint"
        lines.append(Line(text, "", detail))
    return lines


def _median_with_spread(row: pd.Series) -> str:
    spread = "" if missing(row.get("iqr_s")) else f" ± {seconds(float(row['iqr_s']) / 2, 2)}"
    return f"{seconds(row['median_s'])}{spread}"


def _derived(row: pd.Series) -> str:
    if row["kind"] == "copy" and not missing(row.get("copy_gb_per_s")):
        return si(float(row["copy_gb_per_s"]) * 1e9, "B/s")
    if not missing(row.get("epoch_us")):
        return f"{seconds(float(row['epoch_us']) * 1e-6)} per epoch"
    return ""


def _against_baseline(
    bench: pd.DataFrame, row: pd.Series, judged: dict[tuple[str, str], dict]
) -> str:
    said = []
    for metric, word in (("wall", "wall time"), ("instructions", "instructions")):
        case = judged.get((str(row["fullname"]), metric)) or judged.get((str(row["name"]), metric))
        if case is None:
            continue
        if case.get("ratio") is None:
            said.append(f"{word} {case['verdict']}")
        else:
            figures = f"{ratio(case['ratio'])} {_interval(case)}".strip()
            said.append(f"{word} {figures}, {case['verdict']}")
    if said:
        return "; ".join(said)
    found = baseline_ratio(bench, row)
    if found is None:
        return ""
    value, base = found
    return f"{ratio(value)} against {base} (information, not a gate)"


def _interval(case: dict[str, Any]) -> str:
    ci = case.get("ci")
    if not ci or case.get("outcome") == "undecided":
        return ""
    level = f" at {sig(case['confidence'] * 100, 3)} %" if case.get("confidence") else ""
    return f"[{sig(ci[0])}, {sig(ci[1])}]{level}"


# Slower cases first: they are what a reader of a regression looks for.
_CASE_ORDER = ("slower", "undecided", "faster", "no change")


def _case_rank(case: dict[str, Any]) -> int:
    outcome = str(case.get("outcome", ""))
    return _CASE_ORDER.index(outcome) if outcome in _CASE_ORDER else len(_CASE_ORDER)


def _verdict_status(verdict: dict[str, Any]) -> str:
    word = verdict["verdict"]
    if word == "regressed":
        # A slower case fails where the comparison gates; elsewhere it is named, in blue.
        return FAIL if verdict.get("gating") else INFO
    return {"no regression": PASS, "information": INFO}.get(word, NONE)


def _verdict_headline(verdict: dict[str, Any]) -> str:
    """The verdict in words, then its summary (which never repeats the verdict's word)."""
    word, summary = verdict["verdict"], verdict.get("summary", "")
    summary = summary.removeprefix(f"{word}: ")
    if word == "regressed":
        head = "Yes: slower" if verdict.get("gating") else "Slower, but not a gate here"
    else:
        head = {
            "no regression": "No regression",
            "undecided": "Undecided",
            "information": "Information only",
            "no baseline": "Not judged",
        }.get(word, word.capitalize())
    return f"{head}: {summary}" if summary else head


def _side(verdict: dict[str, Any], role: str) -> str:
    return verdict.get(f"{role}_series") or verdict[role]


def regressed_answer(
    speed_verdicts: list[tuple[str, dict[str, Any]]], machines: list[str] = ()
) -> Answer:
    question = "Regressed?"
    if not speed_verdicts:
        names = ", ".join(machines) or "this machine"
        return Answer(question, NONE, f"No baseline for machine {names}: nothing to judge against")
    lines: list[Line] = []
    statuses = []
    for _source, verdict in speed_verdicts:
        status = _verdict_status(verdict)
        statuses.append(status)
        gate = "" if verdict.get("gating", True) else " (information only: not a gate)"
        # With one verdict its summary is the headline; with several each line carries its own.
        detail = _verdict_headline(verdict) if len(speed_verdicts) > 1 else ""
        if verdict.get("cases"):
            lines.append(
                Line(f"{_side(verdict, 'candidate')} against {_side(verdict, 'reference')}{gate}",
                     status, detail)
            )  # fmt: skip
        cases = sorted(verdict.get("cases", []), key=_case_rank)
        for case in cases[:MAX_CASES]:
            case_status = FAIL if case.get("outcome") == "slower" and status == FAIL else ""
            lines.append(Line(f"{case['verdict']}: {case['case']}", case_status, _evidence(case)))
        if len(cases) > MAX_CASES:
            lines.append(Line(f"… and {len(cases) - MAX_CASES} more cases below"))
    if FAIL in statuses:
        status = FAIL
    elif statuses and all(s == PASS for s in statuses):
        status = PASS
    elif INFO in statuses and NONE not in statuses:
        status = INFO
    else:
        status = NONE
    if len(speed_verdicts) == 1:
        headline = _verdict_headline(speed_verdicts[0][1])
    else:
        words = [v["verdict"] for _, v in speed_verdicts]
        headline = "; ".join(f"{words.count(w)} {w}" for w in dict.fromkeys(words)).capitalize()
    return Answer(question, status, headline, tuple(lines), link="regression-0")


def _evidence(case: dict[str, Any]) -> str:
    parts = [f"{case['metric']} time" if case["metric"] == "wall" else "instructions"]
    if case.get("ratio") is not None:
        parts.append(f"{ratio(case['ratio'])} {_interval(case)}".strip())
    if case.get("p") is not None:
        parts.append(f"p {sig(case['p'], 2)}")
    samples = case.get("samples")
    if samples:
        parts.append(f"{samples[0]} vs {samples[1]} processes")
    if case.get("noise_floor") is not None:
        term = "noise floor" if case["metric"] != "wall" else "between-session spread"
        parts.append(f"{term} {case['noise_floor']:.0%}")
    if case.get("processes_needed"):
        parts.append(f"about {case['processes_needed']} processes a side would decide")
    return ", ".join(parts)
