"""The report's three answers, from what its inputs hold: does it reproduce, how fast is it,
did it regress. Values only; ``linreg.report.panel`` draws them.

Each answer is computed from result files alone (checks.json, benchmark files, a speed verdict),
so a job that exits 1 for a failing check and the report of its folder say the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import pandas as pd

from linreg.json_types import Fingerprint
from linreg.report.ab_answers import ab_verdicts
from linreg.report.answer import (
    FAIL,
    INFO,
    MAX_CHECKS,
    NONE,
    PASS,
    Answer,
    Line,
    Verdicts,
)
from linreg.report.checks import CheckText, counts_by_kind, sorted_checks
from linreg.report.comparisons import BASELINE, DEVICE, JUDGED, MACHINES, Plan, comparison_plan
from linreg.report.environment import differing_keys
from linreg.report.inputs import ReportInputs
from linreg.report.regression import interval, regressed_answer
from linreg.report.run_pairs import run_pairs_answer
from linreg.report.speed import (
    case_names,
    headline_cases,
    median_with_spread,
    samples_words,
    session_names,
    speed_ratios,
)
from linreg.report.speed_words import case_words
from linreg.results.job_steps import JobStep
from linreg.results.repro_checks import ReproCheck
from linreg.results.speed_verdict import CaseVerdict, SpeedVerdict
from linreg.units import missing, ratio, seconds, si

# Ratio lines the panel names (the judged pair, against the baseline, between machines, the
# largest); the rest are in the ratios table.
MAX_RATIO_LINES = 4


# The question a failed step of `linreg run` leaves without its evidence.
_STEP_QUESTIONS = {"train": "reproduces", "repro": "reproduces", "bench": "speed",
                   "speed": "regressed"}  # fmt: skip


def verdicts(inputs: ReportInputs) -> Verdicts:
    """The panel's three answers from what the report's inputs hold."""
    bench = inputs.bench
    measured = bench is not None and not bench.empty
    plan, ratios = inputs.plan, inputs.ratios
    if ratios is None and measured:
        ratios = speed_ratios(bench, plan)
    names = session_names(bench) if measured else {}
    cases = case_names(bench) if measured else {}
    speed = speed_answer(bench, inputs.speed_verdicts, inputs.series_environments, plan, ratios)
    regressed = regressed_answer(
        inputs.speed_verdicts,
        inputs.machines(),
        names,
        _ratio_lines(ratios, plan, inputs.series_environments, only=BASELINE) if measured else (),
        cases,
    )
    reproduces = (
        run_pairs_answer(inputs.run_pairs)
        if inputs.run_pairs and not inputs.checks
        else reproduces_answer(inputs.checks, inputs.unfinished_repro)
    )
    answers = Verdicts(reproduces, speed, regressed)
    if inputs.ab_results:
        # An A/B's report answers the A/B: its cross-stack numerics, its speed verdict.
        answers = ab_verdicts(inputs, names, cases, answers)
    # A step that failed before writing its results would otherwise leave its answer grey
    # ("not checked") while the job exits 1: the panel says what failed instead.
    return with_failed_steps(answers, inputs.job_steps)


def with_failed_steps(answers: Verdicts, steps: Iterable[JobStep]) -> Verdicts:
    """The answers with each failed step's question marked failed, naming the step: a step that
    failed before writing its results would otherwise leave its answer grey."""
    for step in steps:
        question = _STEP_QUESTIONS.get(step.name)
        if step.ok or question is None:
            continue
        answer = getattr(answers, question)
        line = Line(f"✗ the {step.name} step failed", FAIL, step.detail)
        headline = answer.headline if answer.status == FAIL else f"No: the {step.name} step failed"
        failed = replace(answer, status=FAIL, headline=headline, lines=(line, *answer.lines))
        answers = replace(answers, **{question: failed})
    return answers


def reproduces_answer(
    checks: Sequence[tuple[str, ReproCheck]], unfinished: Sequence[str] = ()
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
    if text.why:
        detail += f"; {text.why}"
    return Line(f"✗ {text.title}", FAIL, detail)


def _golden_coverage(texts: list[CheckText]) -> str:
    runs = {t.subject for t in texts if t.kind == "determinism"}
    golden = {t.subject for t in texts if t.kind == "golden"}
    if not golden:
        return "no run checked against a golden reference"
    return f"{len(golden)} of {len(runs) or len(golden)} runs checked against golden references"


def speed_answer(
    bench: pd.DataFrame | None,
    speed_verdicts: Sequence[tuple[str, SpeedVerdict]] = (),
    environments: Mapping[str, Fingerprint] | None = None,
    plan: Plan | None = None,
    ratios: pd.DataFrame | None = None,
) -> Answer:
    question = "How fast?"
    if bench is None or bench.empty:
        return Answer(question, NONE, "Not measured: the inputs hold no benchmark results")
    plan = plan if plan is not None else comparison_plan(bench)
    ratios = ratios if ratios is not None else speed_ratios(bench, plan)
    cases = headline_cases(bench, plan.panel or None)
    judged = _judged_cases(bench, speed_verdicts)
    rows = []
    for _, row in cases.iterrows():
        rows.append(
            {
                "case": f"{row['kind']}: {row['case']}",
                "series": row["series"],
                "median": median_with_spread(row),
                "samples": samples_words(row),
                "per epoch / bandwidth": _derived(row),
                "vs baseline": _against_baseline(row, judged, ratios),
            }
        )
    table = pd.DataFrame(rows)
    if not table.empty and (table["vs baseline"] == "").all():
        table = table.drop(columns="vs baseline")
    if len(set(cases["series"])) == 1 and not table.empty:
        table = table.drop(columns="series")
    lines = tuple(_ratio_lines(ratios, plan, environments or {}))
    return Answer(question, INFO, _speed_headline(bench, cases), lines, table=table,
                  link="timings")  # fmt: skip


def _speed_headline(bench: pd.DataFrame, cases: pd.DataFrame) -> str:
    """One whole sentence, however many series: the tutorial's run, then what was measured."""
    measured = measured_words(bench)
    train = cases[cases["kind"] == "train"]
    if train.empty:
        return f"{measured[0].upper()}{measured[1:]}."
    first = train.iloc[0]
    return (
        f"The tutorial's 500 epochs take {seconds(first['median_s'])} "
        f"({first['case']}, {first['series']}); {measured}."
    )


def measured_words(bench: pd.DataFrame) -> str:
    """'5 cases measured on amd-epyc-2c', '2 cases measured in 600 sessions on 3 machines'."""
    n = bench["fullname"].nunique()
    cases = f"{n} benchmark case{'s' if n != 1 else ''}"
    series = list(dict.fromkeys(bench["series"].astype(str)))
    if len(series) == 1:
        return f"{cases} measured on {series[0]}"
    machines = list(dict.fromkeys(bench["machine"].astype(str)))
    on = (
        machines[0] if len(machines) == 1
        else " and ".join(machines) if len(machines) == 2
        else f"{len(machines)} machines"
    )  # fmt: skip
    return f"{cases} measured in {len(series)} sessions on {on}"


def _ratio_lines(
    ratios: pd.DataFrame | None,
    plan: Plan,
    environments: Mapping[str, Fingerprint],
    only: str | None = None,
) -> list[Line]:
    """A few comparisons in words, each the typical ratio over the cases both measured and what
    differs between the two (what the ratio is a ratio of): the judged pair, each measured
    machine against its baseline, machines against each other, and the largest change of the
    rest; a last line links the full table."""
    if ratios is None or ratios.empty:
        return []
    between = ratios[ratios["relation"] != DEVICE]
    if only is not None:
        between = between[between["relation"] == only]
    if between.empty:
        return []
    groups = {name: part for name, part in between.groupby("comparison", sort=False)}
    typical = {name: _geometric_mean(part["ratio"]) for name, part in groups.items()}

    def named(relation: str, limit: int, series: Sequence[str] | None = None) -> list[str]:
        found = [
            name for name, part in groups.items()
            if part["relation"].iloc[0] == relation
            and (series is None or part["candidate"].iloc[0] in series)
        ]  # fmt: skip
        return found[:limit]

    chosen = list(
        dict.fromkeys(named(JUDGED, 1) + named(BASELINE, 2, plan.panel) + named(MACHINES, 2))
    )
    rest = [name for name in groups if name not in chosen]
    if rest:
        chosen = chosen[: MAX_RATIO_LINES - 1]
        largest = max(rest, key=lambda name: abs(math.log(typical[name])))
        chosen.append(largest)
    lines = [
        _ratio_line(name, groups[name], typical[name], environments,
                    largest=bool(rest) and name == chosen[-1] and len(groups) > 1)
        for name in chosen
    ]  # fmt: skip
    more = len(groups) - len(chosen)
    if more:
        lines.append(
            Line(f"… and {more} more comparison{'s' if more != 1 else ''} in the ratios table",
                 link="ratios")
        )  # fmt: skip
    return lines


def _geometric_mean(values: pd.Series) -> float:
    finite = [math.log(v) for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(finite) / len(finite)) if finite else math.nan


def _ratio_line(
    name: str,
    part: pd.DataFrame,
    typical: float,
    environments: Mapping[str, Fingerprint],
    largest: bool = False,
) -> Line:
    reference, candidate = part["reference"].iloc[0], part["candidate"].iloc[0]
    relation = part["relation"].iloc[0]
    train = part[part["kind"] == "train"]
    on_train = f"{ratio(train['ratio'].iloc[0])} on the tutorial's run, " if len(train) else ""
    why = f"the largest change, {relation}" if largest else relation
    text = (
        f"{name} ({why}): {on_train}{ratio(typical)} geometric mean over "
        f"{len(part)} matching case{'s' if len(part) != 1 else ''}"
    )
    detail = ""
    if reference in environments and candidate in environments:
        diff = differing_keys(environments[reference], environments[candidate])
        detail = f"they differ in {', '.join(diff)}" if diff else "same fingerprint"
    return Line(text, "", detail)


def _derived(row: pd.Series) -> str:
    """The case's own figure, as the table of every case shows it: a copy's bandwidth from its
    median time, a training run's time per epoch."""
    if row["kind"] == "copy" and not missing(row.get("gb_per_s")):
        return si(float(row["gb_per_s"]) * 1e9, "B/s")
    if not missing(row.get("epoch_us")):
        return f"{seconds(float(row['epoch_us']) * 1e-6)} per epoch"
    return ""


def _judged_cases(
    bench: pd.DataFrame, speed_verdicts: Sequence[tuple[str, SpeedVerdict]]
) -> dict[tuple[str | None, str, str], CaseVerdict]:
    """Each judged case by (its candidate's series, case, metric); the series is None where the
    verdict's candidate is not among the inputs' series (then it speaks for any)."""
    names = session_names(bench)
    judged = {}
    for _, verdict in speed_verdicts:
        series = names.get(verdict.candidate)
        for case in verdict.cases:
            judged[(series, case.case, case.metric)] = case
    return judged


def _against_baseline(
    row: pd.Series,
    judged: dict[tuple[str | None, str, str], CaseVerdict],
    ratios: pd.DataFrame,
) -> str:
    said = []
    for metric, word in (("wall", "wall time"), ("instructions", "instructions"),
                         ("ops", "ops a step")):  # fmt: skip
        case = next(
            (judged[key] for series in (row["series"], None)
             for key in ((series, str(row["fullname"]), metric), (series, str(row["name"]), metric))
             if key in judged),
            None,
        )  # fmt: skip
        if case is None:
            continue
        if case.ratio != case.ratio:  # NaN: the record holds no ratio
            said.append(f"{word} {case_words(case)}")
        else:
            figures = f"{ratio(case.ratio)} {interval(case)}".strip()
            said.append(f"{word} {figures}, {case_words(case)}")
    if said:
        return "; ".join(said)
    against = ratios[
        (ratios["relation"] == BASELINE)
        & (ratios["candidate"] == row["series"])
        & (ratios["name"] == row["name"])
    ]
    if against.empty:
        return ""
    found = against.iloc[0]
    return f"{ratio(found['ratio'])} against {found['reference']} (information, not a gate)"
