"""`linreg bisect --good REV --bad REV --case ID`: the commit that changed a case."""

from __future__ import annotations

import textwrap
from pathlib import Path

import typer

from linreg import units
from linreg.cli import app, fail
from linreg.cli.console import console, progress, say
from linreg.cli.function_list import print_functions
from linreg.cli.op_list import print_ops
from linreg.report.op_words import ops_headline, per_step
from linreg.report.speed_words import case_words


@app.command("bisect")
def bisect_command(
    good: str = typer.Option(..., help="A commit (any git revision) where the case is as it was."),
    bad: str = typer.Option(..., help="A later commit where it changed."),
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
        help="instructions (callgrind, CPU cases: one count a commit decides), ops (the aten ops "
        "a step makes, any device: one process a commit, any op added or removed decides) or "
        "wall (several processes a commit, interleaved with as many of GOOD's).",
    ),
    threshold: str | None = typer.Option(
        None,
        help="A change beyond this against the good commit counts (10% or 0.1; default 3% for "
        "instructions, 10% for wall time; ops: any change).",
    ),
    processes: int = typer.Option(8, help="Processes a side with --metric wall (>= 2)."),
    timeout: float = typer.Option(
        900.0, help="Seconds one round of measurement may take before it is stopped."
    ),
    out: Path | None = typer.Option(
        None,
        help="Where each probed commit's bench result set is kept, under OUT/COMMIT/ (default: "
        "bisect-<time>/ under the results root); `linreg explain`, `compare` and `history` "
        "read them. New or empty.",
    ),
    wide: bool = typer.Option(False, "--wide", help="Whole function names, every changed op."),
    target: str | None = typer.Option(
        None,
        "--target",
        help="Bisect a target's case (--case target_step, or its full id with the target's "
        "name, code hash and size before the axes): each commit's suite runs the target's "
        "step, the target's file held fixed (a file outside the checkout; a bundled target is each "
        "commit's own, and where it changed, its case is another version's).",
    ),
) -> int:
    """Search the first-parent commits after GOOD up to BAD: each probed commit is checked out
    in a temporary worktree and measured there by its own bench suite (nothing installed, this
    checkout untouched), judged against GOOD by the gate's rule. GOOD and BAD are measured at
    once, then two probes a round (counts; wall time one probe a round, interleaved with
    GOOD's processes). Names the first commit beyond the threshold, its change, the ops a step
    it changed with their lines, and where its instructions went. Exit 0 when a commit is
    named, 1 when none is (BAD not beyond the threshold, or a probe undecided), 2 on bad
    input."""
    from linreg.machine import default_machine_name
    from linreg.options import parse_threshold
    from linreg.paths import results_root
    from linreg.results import kinds
    from linreg.suites.bisect import bisect, check_out_folder, measurer_for, parse_case

    spec = parse_case(case, target)
    limit = None if threshold is None else parse_threshold("threshold", threshold)
    measurer = measurer_for(metric, spec, processes, timeout, default_machine_name())
    out = out if out is not None else results_root() / f"bisect-{kinds.utc_stamp()}"
    check_out_folder(out)

    def on_start(commit, where: str) -> None:
        progress(f"bisect: measuring {commit.short} ({where}) {commit.subject[:50]}")

    def on_probe(probe) -> None:
        took = f"({probe.seconds:.0f} s)"
        value = _value(probe.measured.value(metric), metric)
        if probe.verdict is None:
            progress(f"bisect: {probe.commit.short} (good): {value} {took}")
        else:
            words = case_words(probe.verdict)
            progress(f"bisect: {probe.commit.short}: {value}, ×{probe.verdict.ratio:.4g}, "
                     f"{words} {took}")  # fmt: skip

    result = bisect(repo, good, bad, measurer, limit, on_start=on_start, on_probe=on_probe,
                    out=out)  # fmt: skip
    say(f"case: {spec.case_id}")
    say(f"range: {len(result.commits)} commits after {good} up to {bad}")
    took = (f"{result.counts} measurements in {result.rounds} rounds, "
            f"{units.seconds(result.seconds)}")  # fmt: skip
    kept = f"result sets: {out}"
    if result.first is None:
        say(kept)
        fail(f"bisect: no commit named: {_why_none(result, good, bad)} ({took})")
        return 1
    first = result.first
    what = {"instructions": "instructions a call", "ops": "ops a step"}.get(metric, "wall time")
    named = "whose ops a step changed" if metric == "ops" else f"beyond {result.threshold:.0%}"
    line = (
        f"first commit {named}: {first.commit.short} {first.commit.subject!r}: "
        f"{_value((first.reference or result.good.measured).value(metric), metric)} → "
        f"{_value(first.measured.value(metric), metric)} {what} "
        f"({units.ratio(first.verdict.ratio)}, {first.verdict.outcome})"
    )
    say(_wrapped(line))
    if result.ops is not None:
        say(f"Which ops a step {first.commit.short} changed:")
        print_ops(result.ops, wide)
    elif result.ops_note:
        say(result.ops_note)
    if result.functions is not None:
        say(f"Where the instructions went at {first.commit.short}:")
        print_functions(result.functions.functions, result.functions_note, wide)
    elif result.functions_note:
        say(result.functions_note)
    say(kept)
    reference = first.reference.folder if first.reference else None
    if reference is not None and first.measured.folder is not None:
        say(_wrapped(f"again: linreg explain {reference} {first.measured.folder} --case "
                     f"'{spec.case_id}'"))  # fmt: skip
    say(f"bisect: OK: {first.commit.short} named in {took}")
    return 0


def _value(value: float, metric: str) -> str:
    if metric == "instructions":
        return units.count(value)
    return per_step(value) if metric == "ops" else units.seconds(value)


def _wrapped(text: str) -> str:
    return textwrap.fill(text, width=max(console.width, 40), subsequent_indent="  ",
                         break_on_hyphens=False, break_long_words=False)  # fmt: skip


def _why_none(result, good: str, bad: str) -> str:
    """Why the search named no commit: a probe it could not decide, or the bad end not beyond
    the threshold."""
    probe = result.stopped_at
    verdict = probe.verdict if probe is not None else None
    if verdict is not None and verdict.outcome == "undecided":
        said = f"undecided at {probe.commit.short}: {case_words(verdict)}"
        if result.metric != "ops" and verdict.ops is not None and not verdict.ops.same:
            # The ops decide from one process a commit where wall time could not.
            said += f"; its ops a step changed ({ops_headline(verdict.ops)}): --metric ops decides"
        return said
    said = case_words(verdict) if verdict is not None else "unmeasured"
    beyond = "changed in its ops" if result.metric == "ops" else f"beyond {result.threshold:.0%}"
    return f"{bad} is not {beyond} of {good} ({said})"
