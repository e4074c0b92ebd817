"""`linreg report`: one self-contained HTML file from any result sets."""

from __future__ import annotations

from pathlib import Path

import typer

from linreg.cli import app
from linreg.cli.console import console


@app.command("report")
def report_command(
    result_sets: list[Path] = typer.Argument(
        ..., help="Run folders, benchmark JSON, repro or sweep results, or folders holding them."
    ),
    out: Path = typer.Option(Path("report.html"), help="The HTML file to write (replaced whole)."),
    png: Path | None = typer.Option(
        None, help="Also export each figure as a PNG into this folder (needs kaleido + Chromium)."
    ),
) -> None:
    """Build one self-contained HTML report (plotly.js embedded, opens offline)."""
    from linreg.report.build import build_report  # plotly is only needed here

    with console.status("building the report…"):
        summary = build_report(result_sets, out, png_dir=png)
    console.print(f"{len(summary.figures)} figures in {len(summary.sections)} sections")
    if summary.images:
        console.print(f"{len(summary.images)} PNG images in {png}", soft_wrap=True)
    console.print(f"report: {summary.path}", soft_wrap=True)
