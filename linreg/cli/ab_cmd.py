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
from linreg.paths import results_root
from linreg.report.speed_words import headline
from linreg.results import kinds
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
) -> int:
    """A same-machine A/B of two stacks (two torch versions, or a base branch and a change):
    interleaved benchmark processes with instruction counts, both repro matrices, one speed
    verdict and one numeric verdict, written as result sets the report reads. Exit 1 when a
    run differs beyond tolerance (level c or d, as `linreg compare`), a process failed, or with
    --fail-on-regression on a slowdown; 2 on bad input."""
    from linreg.options import parse_threshold

    threshold = (
        None
        if fail_on_regression is None
        else parse_threshold("fail_on_regression", fail_on_regression)
    )
    selection = parse_selection(devices=devices, kinds=kinds_, quick=True)
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
        repro_args=("--seeds", "42", "--no-golden") if repro else None,
        on_progress=progress,
        count_instructions=instructions,
    )
    for role, stack in result.stacks.items():
        say(f"{role}: Python {stack.python}, torch {stack.torch} ({stack.interpreter})")
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
    numeric = result.numeric.verdict_name
    regressed = speed is not None and speed.regressions and threshold is not None
    failed = regressed or result.failures or result.numeric_failures
    line = (
        f"ab: {'FAIL' if failed else 'OK'}: numerics {numeric}; "
        f"speed {headline(speed) if speed else 'not measured'}"
    )
    if failed:
        fail(line)
        return 1
    say(line)
    return 0
