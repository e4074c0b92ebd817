"""`linreg history RESULTS... --out SITE/`: a static site of every case over sessions, across
machines and stacks, with its steps, and the numerics of repro sets over time."""

from __future__ import annotations

from pathlib import Path

import typer

from linreg.cli import app
from linreg.cli.console import say
from linreg.cli.progress import tracked

# Named here as well as in linreg.compare.over_time: `--help` must not import the numerics.
_THRESHOLD, _RECENT = "3%", 5


@app.command("history")
def history_command(
    results: list[Path] = typer.Argument(
        ...,
        help="Results trees, folders or files, in any number: committed baselines, CI "
        "artifacts, several machines' folders. Benchmark sessions and repro result sets are "
        "read; a file found in two of them counts once.",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        help="The site's folder: a new or empty one, or an earlier site, rebuilt whole. It is "
        "built beside it and renamed into place, so it never holds half a site.",
    ),
    threshold: str = typer.Option(
        _THRESHOLD,
        help="The least step marked (3% or 0.03); a step must also stand out of its series' noise.",
    ),
    recent: int = typer.Option(
        _RECENT,
        min=1,
        help="The index judges the steps that began in a series' newest this many sessions: a "
        "regression where slower, earned (enough sessions each side) and something changed "
        "across it; else undecided, a speed-up, or noise (the same code on the same stack and "
        "host).",
    ),
) -> None:
    """Write a static site (opens offline): machines, stacks and regressions on its index,
    one page per case (instructions per stack, wall time per host, steps marked), numerics
    over time. Exit 2 on bad input."""
    from linreg.options import parse_threshold
    from linreg.report.site.build import build_site, site_size_words  # plotly, ruptures

    fraction = parse_threshold("threshold", threshold)
    with tracked("history") as bar:
        summary = build_site(
            results, out, fraction, recent, lambda done, total, what: bar.update(done, total, what)
        )
    for line in summary.notes:
        say(f"note: {line}")
    s = summary
    say(
        f"history: {_n(s.sessions, 'session')} on {_n(s.hosts, 'host')} "
        f"({_n(s.machines, 'machine')}, {_n(s.stacks, 'stack')}), {_n(s.cases, 'case')}, "
        f"{_n(s.repro_sets, 'repro set')}; {_n(s.steps, 'step')}, {len(s.regressions)} in the "
        f"newest {recent} sessions of a series ({_kinds(s)}); {_n(s.pages, 'page')}, "
        f"{site_size_words(s.bytes)}: {s.path / 'index.html'}"
    )


def _kinds(summary) -> str:
    """'1 regression, 2 undecided, 0 speed-ups, 1 noise': what the newest steps earned."""
    from linreg.results.history_series import NOISE, REGRESSION, SPEED_UP, UNDECIDED_STEP

    return (
        f"{_n(summary.count(REGRESSION), 'regression')}, {summary.count(UNDECIDED_STEP)} "
        f"undecided, {_n(summary.count(SPEED_UP), 'speed-up')}, {summary.count(NOISE)} noise"
    )


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
