"""The report of `linreg run --target`: its first screen answers Reproduces? / How fast? /
Regressed? for that model, from the job's own records (its target runs, its target bench cases,
its repro checks, its gate verdict and its steps), then the evidence below.

"How fast" is the target's step time (the harness's loop over the size's steps, as the bench's
target_step case timed it) and its forward over the eval batches; "Regressed" is the gate on
this version of the target's own baseline, or the sentence that there is none for its code hash.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from linreg.report import template
from linreg.report.answer import FAIL, INFO, MAX_CHECKS, NONE, PASS, Answer, Line, Verdicts
from linreg.report.build import ReportSummary
from linreg.report.page import Section, render_page
from linreg.report.panel import render_panel
from linreg.report.regression import regressed_answer
from linreg.report.verdict import with_failed_steps
from linreg.results.bench_file import BenchCase, BenchFile
from linreg.results.files import write_text_atomic
from linreg.results.job_steps import JobStep
from linreg.results.speed_verdict import SpeedVerdict
from linreg.results.target_repro_checks import TargetReproChecks
from linreg.target_config import TargetRef
from linreg.target_run import TargetRun
from linreg.units import count, seconds, si


# The question a failed step leaves without its evidence.
@dataclass(frozen=True)
class TargetFacts:
    """What `linreg run --target` made, loaded once, for its report."""

    ref: TargetRef
    size: str
    runs: tuple[tuple[Path, TargetRun], ...] = ()
    bench_files: tuple[BenchFile, ...] = ()
    gate: SpeedVerdict | None = None
    gate_words: str = ""  # the gate in words where there is no verdict (no baseline)
    checks: TargetReproChecks | None = None
    steps: tuple[JobStep, ...] = ()


def _cases(facts: TargetFacts, kind: str) -> list[BenchCase]:
    return [c for f in facts.bench_files for c in f.cases if c.extra_info.get("kind") == kind]


def reproduces(facts: TargetFacts) -> Answer:
    question = "Reproduces?"
    record = facts.checks
    if record is None:
        return Answer(question, NONE, "Not checked: the repro step made no checks")
    checks = record.checks
    failing = record.failures
    kinds = sorted({c.kind for c in checks})
    counts = " · ".join(
        f"{k} {sum(c.holds for c in checks if c.kind == k)} of {sum(c.kind == k for c in checks)}"
        for k in kinds
    )
    if failing:
        lines = [Line(f"✗ {c.kind} {c.subject} against {c.against}", FAIL, c.reason)
                 for c in failing[:MAX_CHECKS]]  # fmt: skip
        if len(failing) > MAX_CHECKS:
            lines.append(Line(f"… and {len(failing) - MAX_CHECKS} more failing checks below", FAIL))
        lines.append(Line(counts))
        verb = "fails" if len(failing) == 1 else "fail"
        return Answer(question, FAIL, f"No: {len(failing)} of {len(checks)} checks {verb}",
                      tuple(lines), link="checks")  # fmt: skip
    declared = [c for c in checks if c.status == "declared"]
    lines = [Line(counts)]
    if declared:
        lines.append(Line(f"{len(declared)} declared nondeterministic", INFO, declared[0].reason))
    return Answer(question, PASS, f"Yes: all {len(checks)} checks of {facts.ref.name} hold",
                  tuple(lines), link="checks")  # fmt: skip


def how_fast(facts: TargetFacts) -> Answer:
    question = "How fast?"
    steps = _cases(facts, "target_step")
    timed = [c for c in steps if isinstance(c.extra_info.get("step_us"), (int, float))]
    if not timed:
        return Answer(question, NONE, "Not measured: the bench step stored no target_step case")
    lines = []
    for case in timed:
        info = case.extra_info
        step_s = float(info["step_us"]) * 1e-6
        total = statistics.median(case.rounds) if case.rounds else step_s * info["steps"]
        lines.append(Line(
            f"{info['device']} {info['dtype']} {info['engine']}: {seconds(step_s)} a step",
            detail=f"{info['steps']} steps of size {info.get('target_size')} in "
                   f"{seconds(total)} (median of {len(case.rounds)} rounds)",
        ))  # fmt: skip
    for case in _cases(facts, "target_inference"):
        info = case.extra_info
        if case.rounds and isinstance(info.get("samples"), int):
            rate = info.get("samples_per_s")
            per_s = f" ({si(rate, 'samples/s')})" if isinstance(rate, (int, float)) else ""
            lines.append(Line(f"{info['device']} {info['dtype']} inference: "
                              f"{seconds(statistics.median(case.rounds))} for "
                              f"{info['samples']} eval samples{per_s}"))  # fmt: skip
    first = timed[0].extra_info
    headline = (f"{facts.ref.name}'s {first['steps']} steps take "
                f"{seconds(float(first['step_us']) * 1e-6 * first['steps'])} "
                f"({seconds(float(first['step_us']) * 1e-6)} a step, {first['device']} "
                f"{first['dtype']})")  # fmt: skip
    return Answer(question, INFO, headline, tuple(lines), link="bench")


def regressed(facts: TargetFacts) -> Answer:
    if facts.gate is not None:
        return regressed_answer([("speed", facts.gate)])
    words = facts.gate_words or "not judged: the bench step stored no results"
    return Answer("Regressed?", NONE, words[0].upper() + words[1:] + ": nothing to judge against")


def target_verdicts(facts: TargetFacts) -> Verdicts:
    answers = Verdicts(reproduces(facts), how_fast(facts), regressed(facts))
    return with_failed_steps(answers, facts.steps)


def _sections(facts: TargetFacts) -> list[Section]:
    ref = facts.ref
    about = Section("target", f"Target {ref.name}", notes=[
        f"spec {ref.spec}; code hash {ref.code_hash}; size {facts.size}. The code hash is part "
        "of the target's identity: baselines and references of another hash are never "
        "compared with these as the same target."])  # fmt: skip
    steps = pd.DataFrame([{"step": s.name, "status": s.status, "seconds": seconds(s.seconds),
                           "detail": s.detail} for s in facts.steps])  # fmt: skip
    about.tables.append(("steps", steps))
    sections = [about]
    if facts.runs:
        training = Section("training", "Training")
        figure = template.figure()
        rows = []
        for folder, run in facts.runs:
            device = run.config.device
            figure.add_scatter(y=list(run.train_loss), mode="lines", name=f"{device} train loss")
            if run.eval_steps:
                figure.add_scatter(x=list(run.eval_steps), y=list(run.eval_loss),
                                   mode="markers+lines", name=f"{device} eval loss")  # fmt: skip
            rows.append({"device": device, "dtype": run.config.dtype, "steps": run.steps,
                         "final train loss": run.train_loss[-1],
                         "final eval loss": run.eval_loss[-1] if run.eval_loss else None,
                         "state hash": run.state_hash[:12], "folder": str(folder)})  # fmt: skip
        figure.update_layout(xaxis_title="step", yaxis_title="loss", height=360)
        training.figures.append(("target_loss", figure))
        training.tables.append(("runs", pd.DataFrame(rows)))
        sections.append(training)
    if facts.bench_files:
        bench = Section("bench", "Benchmarks")
        rows = []
        for file in facts.bench_files:
            for case in file.cases:
                info = case.extra_info
                rows.append({"case": case.fullname.split("::")[-1],
                             "median": seconds(statistics.median(case.rounds))
                             if case.rounds else "–",
                             "step": seconds(float(info["step_us"]) * 1e-6)
                             if isinstance(info.get("step_us"), (int, float)) else "–",
                             "instructions": count(info["instructions"])
                             if isinstance(info.get("instructions"), (int, float)) else "–",
                             "rounds": len(case.rounds)})  # fmt: skip
        bench.tables.append(("target cases", pd.DataFrame(rows)))
        sections.append(bench)
    if facts.checks is not None:
        checks = Section("checks", "Reproducibility checks")
        checks.tables.append(("checks", pd.DataFrame([
            {"kind": c.kind, "pair": c.pair, "subject": c.subject, "against": c.against,
             "status": c.status, "reason": c.reason} for c in facts.checks.checks])))  # fmt: skip
        checks.notes += [f"left out: {what}: {why}" for what, why in facts.checks.skipped]
        sections.append(checks)
    if facts.gate is not None or facts.gate_words:
        gate = Section("gate", "Speed gate")
        gate.notes.append(facts.gate_words)
        if facts.gate is not None:
            gate.notes += list(facts.gate.notes)
        sections.append(gate)
    return sections


def write_target_report(facts: TargetFacts, out: str | Path) -> ReportSummary:
    sections = _sections(facts)
    answers = target_verdicts(facts)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = render_page(f"linreg report: {facts.ref.name}", sections,
                       subtitle=f"Built {stamp} by linreg run --target {facts.ref.spec}",
                       panel=render_panel(answers))  # fmt: skip
    path = write_text_atomic(Path(out), page)
    return ReportSummary(path=path, sections=tuple(s.title for s in sections),
                         figures=tuple(n for s in sections for n, _ in s.figures),
                         verdicts=answers)  # fmt: skip
