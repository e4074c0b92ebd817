"""`linreg compare REFERENCE CANDIDATE`: numerics and timings of two result sets, side by side."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from linreg.cli import app
from linreg.cli.console import console
from linreg.compare.timing import DEFAULT_ALPHA, check_alpha, parse_threshold
from linreg.errors import ConfigError
from linreg.tolerance import load_tolerances


@app.command("compare")
def compare_command(
    reference: Path = typer.Argument(
        ...,
        help="What the candidate is judged against: run folder, repro result, benchmark JSON...",
    ),
    candidate: Path = typer.Argument(..., help="The change, of any of the same kinds."),
    fail_on_regression: str | None = typer.Option(
        None, help="Exit 1 on a significant slowdown beyond this, e.g. 10%."
    ),
    rtol: float | None = typer.Option(None, help="Override rtol for every dtype."),
    atol: float | None = typer.Option(None, help="Override atol for every dtype."),
    alpha: float = typer.Option(DEFAULT_ALPHA, help="Significance level of the rank test."),
    pyproject: Path = typer.Option(
        Path("pyproject.toml"), help="Tolerances under [tool.linreg] (Python >= 3.11)."
    ),
) -> int:
    """Compare CANDIDATE with REFERENCE. Exit 1 on a numeric difference beyond tolerance or (with
    --fail-on-regression) a significant slowdown beyond the threshold; 2 on bad input."""
    threshold = None
    if fail_on_regression is not None:
        try:
            threshold = parse_threshold(fail_on_regression)
        except ValueError as exc:
            raise ConfigError("fail_on_regression", str(exc)) from exc
    tolerances = load_tolerances(pyproject).with_overrides(rtol=rtol, atol=atol)
    check_alpha(alpha)
    from linreg.compare.sets import compare_result_sets  # imports torch

    result = compare_result_sets(reference, candidate, tolerances, threshold, alpha)

    if result.numerics:
        table = Table(title="Numerics (candidate vs reference)")
        for col in ("run", "dtype", "verdict", "first bit diff", "horizon", "max |Δ| loss",
                    "max ULP", "final w ref / cand"):  # fmt: skip
            table.add_column(col, overflow="fold")
        for c in result.numerics:
            verdict = {"a": "[green]bitwise equal[/]", "b": "[green]within tolerance[/]"}.get(
                c.level, f"[red]{c.level}: beyond tolerance[/]"
            )
            table.add_row(
                c.candidate_label, c.dtype, verdict,
                _epoch(c.divergence.bitwise), _epoch(c.horizon),
                f"{c.quantities['train_loss'].max_abs:.3g}",
                str(max(q.max_ulp for q in c.quantities.values())),
                f"{c.final_reference['weight']:.8g} / {c.final_candidate['weight']:.8g}",
            )  # fmt: skip
        console.print(table)
    if result.timings:
        table = Table(title="Timings (candidate vs reference)")
        for col in ("case", "median ref", "median cand", "ratio", "p", "verdict"):
            table.add_column(col, overflow="fold")
        for t in result.timings:
            regression = threshold is not None and t.is_regression(threshold)
            table.add_row(
                t.case, f"{t.reference_median * 1e6:.1f} µs",
                f"{t.candidate_median * 1e6:.1f} µs", f"{t.ratio:.3f}",
                "" if t.p_value is None else f"{t.p_value:.2g}",
                f"[red]{t.verdict} (regression)[/]" if regression else t.verdict,
            )  # fmt: skip
        console.print(table)
    for line in result.unmatched:
        console.print(line, soft_wrap=True)
    if result.environment_diff:
        table = Table(title="Environment differences")
        for col in ("key", "reference", "candidate"):
            table.add_column(col, overflow="fold")
        for key, (va, vb) in result.environment_diff.items():
            if key == "torch_config":
                va, vb = "(differs)", "(differs)"
            table.add_row(key, str(va), str(vb))
        console.print(table)
    else:
        console.print("environments: identical fingerprints")
    for c in result.numeric_failures:
        console.print(f"[red]FAIL[/] {c.candidate_label}: beyond tolerance from epoch {c.horizon}",
                      soft_wrap=True)  # fmt: skip
    for t in result.regressions:
        slower = f"{(t.ratio - 1) * 100:.1f}% slower (p={t.p_value:.2g})"
        console.print(f"[red]FAIL[/] {t.case}: {slower}", soft_wrap=True)
    return 0 if result.ok else 1


def _epoch(value: int | None) -> str:
    return "none" if value is None else str(value)
