"""`linreg run`: the main job on the devices present, everything under one results folder."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from linreg.cli import app, fail
from linreg.cli.console import console, say
from linreg.cli.progress import tracked
from linreg.paths import results_root
from linreg.results import kinds
from linreg.results.job_steps import OK


def _default_out() -> Path:
    return results_root() / f"run-{kinds.utc_stamp()}"


@app.command("run")
def run_command(
    out: Path | None = typer.Option(
        None,
        help="Results folder to create (must not exist or be empty). "
        "Default: results/run-<UTC timestamp>/.",
    ),
    target: str | None = typer.Option(
        None,
        "--target",
        help="Run every step on a target instead of the tutorial: FILE.py:NAME, "
        "package.module:NAME or a bundled name (mlp, cnn, chargpt). It is trained (runs/), "
        "benched (its target_step and target_inference cases), gated on the instruction "
        "baseline of this version of it (its code hash) on this stack where one is committed, "
        "and checked by its repro matrix; the report answers the three questions for it.",
    ),
    size: str | None = typer.Option(
        None, "--size", help="The --target's size every step trains (default ci)."
    ),
) -> None:
    """The main job: train the tutorial model (or --target's), run the quick bench and the repro
    check on the devices present, and write results and the HTML report under one folder."""
    from linreg.target_loading import is_tutorial

    if target is not None and is_tutorial(target):
        target = None  # the tutorial's own job
    if target is None and size is not None:
        from linreg.errors import ConfigError

        raise ConfigError("size", "names a target's size: give --target too")
    out = out or _default_out()
    started = time.perf_counter()
    with tracked("run") as tracker:

        def on_step(index: int, total: int, step, left) -> None:
            what = f"run: step {index + 1} of {total}, {step.description}"
            tracker.update(index, total, description=what)

        if target is not None:
            from linreg.jobs.target_job import run_target_job  # imports torch

            result = run_target_job(target, out, size or "ci", on_step=on_step)
        else:
            from linreg.jobs.main_job import run_main_job  # imports torch

            result = run_main_job(out, on_step=on_step)
    table = Table(title="linreg run")
    for column in ("step", "result", "detail"):
        table.add_column(column)
    for step in result.steps:
        status = Text("FAILED", style="red")
        if step.ok:
            # A step with nothing to decide by (no baseline of this stack) passes, but says so.
            status = Text(step.status, style="" if step.status == OK else "yellow")
        table.add_row(step.name, status, Text(step.detail))
    console.print(table)
    say(f"results: {result.out} ({time.perf_counter() - started:.1f} s)")
    if result.report is not None:
        say(f"report: {result.report}")
    if not result.ok:
        failed = ", ".join(step.name for step in result.steps if not step.ok)
        fail(f"run: FAIL: {failed} (see the table above and the report's verdict panel)")
        raise typer.Exit(1)
    unjudged = [f"{step.name} {step.status}" for step in result.steps if step.status != OK]
    if unjudged:
        # Nothing failed, but "held" would claim a check that was not made.
        say(f"run: OK: no step failed; {', '.join(unjudged)} (see the table above)")
    else:
        say("run: OK: every step held")
