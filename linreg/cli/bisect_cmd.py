"""`linreg bisect --good REV --bad REV --case ID`: the commit that changed a case."""

from __future__ import annotations

import textwrap
from pathlib import Path

import typer

from linreg import units
from linreg.cli import app, fail
from linreg.cli.console import console, progress, say
from linreg.cli.function_list import print_functions
from linreg.report.speed_words import case_words


@app.command("bisect")
def bisect_command(
    good: str = typer.Option(..., help="A commit (any git revision) where the case is as it was."),
    bad: str = typer.Option(
        ..., help="A later commit where it changed; taken at its word until the search ends on it."
    ),
    case: str = typer.Option(
        ...,
        help="The case: its id, e.g. train\\[cpu-float32-seed42-eager] (with or without "
        "bench_train.py::bench_ before it), or a bare kind (train, inference) for the quick "
        "profile's case of that kind.",
    ),
    repo: Path = typer.Option(
        Path("."), help="The git checkout of linreg whose history is searched (default: here)."
    ),
    metric: str = typer.Option(
        "instructions",
        help="instructions (callgrind, CPU cases: one count a commit decides) or wall (several "
        "processes a commit, for cases without counts, e.g. on CUDA).",
    ),
    threshold: str | None = typer.Option(
        None,
        help="A change beyond this against the good commit counts (10% or 0.1; default 3% for "
        "instructions, 10% for wall time).",
    ),
    processes: int = typer.Option(8, help="Processes a commit with --metric wall (>= 2)."),
    timeout: float = typer.Option(
        900.0, help="Seconds one commit's measurement may take before it is stopped."
    ),
    wide: bool = typer.Option(False, "--wide", help="Whole function names."),
) -> int:
    """Binary search over the first-parent commits after GOOD up to BAD: each probed commit is
    checked out in a temporary worktree and measured from there (nothing installed, this
    checkout untouched), judged against GOOD by the gate's rule. Names the first commit beyond
    the threshold, its change, and where its instructions went. Exit 0 when a commit is named,
    1 when none is (BAD not beyond the threshold, or a probe undecided), 2 on bad input."""
    from linreg.options import parse_threshold
    from linreg.suites.bisect import bisect, measurer_for, parse_case  # imports torch

    spec = parse_case(case)
    limit = None if threshold is None else parse_threshold("threshold", threshold)
    measurer = measurer_for(metric, spec, processes, timeout)

    def on_start(commit, where: str) -> None:
        progress(f"bisect: measuring {commit.short} ({where}) {commit.subject[:50]}")

    def on_probe(probe) -> None:
        took = f"({probe.seconds:.0f} s)"
        if probe.verdict is None:
            progress(f"bisect: {probe.commit.short} (good): {probe.value:.6g} {took}")
        else:
            words = case_words(probe.verdict)
            progress(f"bisect: {probe.commit.short}: ×{probe.verdict.ratio:.4g}, {words} {took}")

    result = bisect(repo, good, bad, measurer, limit, on_start=on_start, on_probe=on_probe)
    say(f"case: {spec.case_id}")
    say(f"range: {len(result.commits)} commits after {good} up to {bad}")
    took = f"{result.counts} measurements, {units.seconds(result.seconds)}"
    if result.first is None:
        fail(f"bisect: no commit named: {_why_none(result, good, bad)} ({took})")
        return 1
    first = result.first
    unit = units.count if metric == "instructions" else units.seconds
    what = "instructions a call" if metric == "instructions" else "wall time"
    line = (
        f"first commit beyond {result.threshold:.0%}: {first.commit.short} "
        f"{first.commit.subject!r}: {unit(result.good.value)} → {unit(first.value)} {what} "
        f"({units.ratio(first.verdict.ratio)}, {first.verdict.outcome})"
    )
    say(textwrap.fill(line, width=max(console.width, 40), subsequent_indent="  ",
                      break_on_hyphens=False, break_long_words=False))  # fmt: skip
    if result.functions is not None:
        print_functions(result.functions.functions, result.functions_note, wide)
    elif result.functions_note:
        say(result.functions_note)
    say(f"bisect: OK: {first.commit.short} named in {took}")
    return 0


def _why_none(result, good: str, bad: str) -> str:
    """Why the search named no commit: a probe it could not decide, or the bad end not beyond
    the threshold."""
    probe = result.stopped_at
    verdict = probe.verdict if probe is not None else None
    if verdict is not None and verdict.outcome == "undecided":
        return f"undecided at {probe.commit.short}: {case_words(verdict)}"
    said = case_words(verdict) if verdict is not None else "unmeasured"
    return f"{bad} is not beyond {result.threshold:.0%} of {good} ({said})"
