"""`linreg run`: the main job on the devices present, everything under one results folder."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from linreg.cli import app
from linreg.cli.console import console
from linreg.results import kinds


def _default_out() -> Path:
    return Path("results") / f"run-{kinds.utc_stamp()}"


@app.command("run")
def run_command(
    out: Path | None = typer.Option(
        None,
        help="Results folder to create (must not exist or be empty). "
        "Default: results/run-<UTC timestamp>/.",
    ),
) -> None:
    """The main job: train the tutorial model, run the quick bench and the repro check on the
    devices present, and write results and the HTML report under one folder."""
    out = out or _default_out()
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def on_step(index: int, total: int, name: str) -> None:
            progress.update(
                task, total=total, completed=index, description=f"[{index + 1}/{total}] {name}"
            )

        from linreg.jobs.main_job import run_main_job  # imports torch

        result = run_main_job(out, on_step=on_step)
    table = Table(title="linreg run")
    for column in ("step", "result", "detail"):
        table.add_column(column)
    for step in result.steps:
        table.add_row(step.name, "ok" if step.ok else "[red]FAILED[/red]", step.detail)
    console.print(table)
    console.print(
        f"done in {time.perf_counter() - started:.1f} s; results: {result.out}", soft_wrap=True
    )
    if result.report is not None:
        console.print(f"report: {result.report}", soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)
