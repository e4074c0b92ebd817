"""`linreg ab`: the same machine, two stacks, interleaved — is the candidate slower or different?"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from linreg import units
from linreg.cli import app, fail
from linreg.cli.console import console, progress, say
from linreg.cli.speed_table import print_speed_verdict
from linreg.errors import LinregError
from linreg.paths import results_root
from linreg.report.ab_stack_words import stacks_clause, stacks_headline
from linreg.report.speed_words import headline as speed_headline
from linreg.results import kinds
from linreg.results.ab_result import StackDifference
from linreg.suites.bench_selection import KINDS, parse_selection

# The switches have long negative forms: in a panel of their own, the options' table keeps room
# for --fail-on-regression's whole name at 80 columns.
_STEPS = "Optional steps"


@app.command("ab")
def ab_command(
    candidate_python: Path = typer.Option(
        ..., help="The candidate stack's Python (with its torch and linreg's dependencies)."
    ),
    reference_python: Path = typer.Option(
        Path(sys.executable),
        help="The reference stack's Python (default: the one running linreg).",
        show_default=False,
    ),
    reference_root: Path = typer.Option(
        Path("."), help="The reference's linreg checkout (its bench/ and code; default: here)."
    ),
    candidate_root: Path | None = typer.Option(
        None, help="The candidate's linreg checkout (default: the reference's)."
    ),
    processes: int = typer.Option(
        8, help="Benchmark processes per side, interleaved (A B A B ...); each is one sample, >= 2."
    ),
    kinds_: str = typer.Option(
        "train,inference", "--kinds", help=f"Bench kinds (quick profile), of {', '.join(KINDS)}."
    ),
    devices: str = typer.Option("cpu", help="Devices of the bench cases: cpu, cuda, mps."),
    fail_on_regression: str | None = typer.Option(
        None, help="Exit 1 when the candidate is slower beyond this (e.g. 10%) on either metric."
    ),
    repro: bool = typer.Option(
        True,
        "--repro/--no-repro",
        help="Also run each stack's repro matrix and compare them.",
        rich_help_panel=_STEPS,
    ),
    out: Path | None = typer.Option(
        None, help="Folder to create for everything (default: results/ab-<UTC time>/)."
    ),
    instructions: bool = typer.Option(
        True,
        "--instructions/--no-instructions",
        help="Count instructions under Valgrind in each side's first process (about a minute "
        "each); without, wall time alone.",
        rich_help_panel=_STEPS,
    ),
    wide: bool = typer.Option(False, "--wide", help="Full case ids in the speed table."),
    target: str | None = typer.Option(
        None,
        "--target",
        help="A/B a target instead of the tutorial (FILE.py:NAME, package.module:NAME or a "
        "bundled name): its target_step and target_inference cases on both stacks, and its "
        "repro matrix (linreg repro --target) on each, their runs paired by config id.",
    ),
    size: str | None = typer.Option(None, "--size", help="The --target's size (default ci)."),
) -> int:
    """A same-machine A/B of two stacks (two torch versions, or a base branch and a change):
    interleaved benchmark processes with instruction counts, both repro matrices, one speed
    verdict and one numeric verdict, written as result sets with the report of them
    (report.html in the A/B's folder). Exit 1 when a run differs beyond tolerance (level c or d,
    as `linreg compare`), a process failed, or with --fail-on-regression on a slowdown; 2 on bad
    input."""
    from linreg.options import parse_threshold

    threshold = (
        None
        if fail_on_regression is None
        else parse_threshold("fail_on_regression", fail_on_regression)
    )
    if target is not None:
        from linreg.target_loading import is_tutorial, load_target

        if not is_tutorial(target):
            load_target(target)  # a bad target: one line, exit 2, before any process starts
            if kinds_ == "train,inference":  # the default: the target's own cases
                kinds_ = "target_step,target_inference"
    selection = parse_selection(devices=devices, kinds=kinds_, quick=True, target=target,
                                target_size=size)  # fmt: skip
    if selection.target is not None and repro:
        repro_args: tuple[str, ...] | None = ("--target", selection.target, "--size",
                                              selection.target_size, "--seeds", "0")  # fmt: skip
    else:
        repro_args = ("--seeds", "42", "--no-golden") if repro else None
    out = out or results_root() / f"ab-{kinds.utc_stamp()}"
    from linreg.machine import default_machine_name
    from linreg.suites.ab import Stack, run_ab  # imports torch

    result = run_ab(
        Stack("reference", reference_python.absolute(), reference_root.resolve()),
        Stack(
            "candidate", candidate_python.absolute(), (candidate_root or reference_root).resolve()
        ),
        selection,
        out,
        machine=default_machine_name(),
        processes=processes,
        threshold=threshold,
        repro_args=repro_args,
        on_progress=progress,
        count_instructions=instructions,
        on_stacks=_say_stacks,
    )
    for role, stack in result.stacks.items():
        say(f"{role}: Python {stack.python}, torch {stack.torch_build} ({stack.interpreter})")
    if result.numeric.pairs:
        table = Table(title=f"Numerics: worst level {result.numeric.verdict}")
        for column in ("run", "level", "1st diff", "horizon"):
            table.add_column(column)
        for pair in result.numeric.pairs:
            first, horizon = pair.first_bitwise_difference_epoch, pair.horizon
            level = f"{pair.level} ({pair.level_name})"
            table.add_row(Text(pair.run), level, units.integer(first), units.integer(horizon))
        console.print(table)
    speed = result.speed
    if speed is not None:
        print_speed_verdict(speed, wide)
    for problem in result.failures:
        fail(problem)
    for pair in result.numeric_failures:
        where = (
            "in the final parameters"
            if pair.horizon is None
            else f"from epoch {units.integer(pair.horizon)}"
        )
        fail(f"{pair.run}: {pair.level_name} (level {pair.level}), beyond tolerance "
             f"{where}")  # fmt: skip
    say(f"results: {out} ({units.seconds(result.seconds)})")
    report = _write_report(out)
    difference = result.difference
    if difference is not None and stacks_headline(difference) != stacks_clause(difference):
        say(f"ab: {stacks_headline(difference)}")  # what the last line cannot hold: the remedy
    numeric = result.numeric.verdict_name
    regressed = speed is not None and speed.regressions and threshold is not None
    failed = regressed or result.failures or result.numeric_failures or report is None
    stacks = "" if difference is None else f"{stacks_clause(difference)}; "
    line = (
        f"ab: {'FAIL' if failed else 'OK'}: {stacks}numerics {numeric}; "
        f"speed {speed_headline(speed) if speed else 'not measured'}"
    )
    if failed:
        fail(line)
        return 1
    say(line)
    return 0


def _say_stacks(difference: StackDifference) -> None:
    """Before the minutes of measuring: what is compared with what."""
    for role, stack in (("reference", difference.reference), ("candidate", difference.candidate)):
        progress(f"ab: {role}: Python {stack.python}, torch {stack.torch_build}")
    progress(f"ab: {stacks_headline(difference)}")


def _write_report(out: Path) -> Path | None:
    """The A/B folder's report, as `linreg report OUT` builds it; None (said) where it fails."""
    from linreg.report.build import build_report  # plotly is only needed here

    progress("ab: writing the report")
    try:
        summary = build_report([out], out / "report.html")
    except LinregError as exc:
        fail(f"report: not written: {exc} (linreg report {out} --out report.html to retry)")
        return None
    say(f"report: {summary.path}")
    return summary.path
