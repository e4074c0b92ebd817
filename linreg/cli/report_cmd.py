"""`linreg report`: one self-contained HTML file from any result sets."""

from __future__ import annotations

from pathlib import Path

import typer

from linreg.cli import app
from linreg.cli.console import say


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

    summary = build_report(result_sets, out, png_dir=png)
    say(f"{len(summary.figures)} figures in {len(summary.sections)} sections")
    if summary.images:
        say(f"{len(summary.images)} PNG images in {png}")
    say(f"report: {summary.path}")
    panel = "every answer green or grey" if summary.ok else "a red answer (see its verdict panel)"
    say(f"report: OK: written, {panel}")
