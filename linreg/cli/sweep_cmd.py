"""`linreg sweep`: many seeds (and learning rates) at once on the batched engine."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from linreg.cli import app, fail
from linreg.cli.console import console, say
from linreg.cli.progress import tracked
from linreg.config import DTYPES, LOSSES, TrainConfig
from linreg.errors import ConfigError
from linreg.options import parse_integers, parse_positive_numbers
from linreg.results.files import check_writable
from linreg.results.sweep_record import QUANTILES, quantile_key
from linreg.suites.sweep_options import (
    DEFAULT_SLACK,
    DEFAULT_TOLERANCE,
    MAX_MEMBERS,
    check_slack,
    check_tolerance,
    default_sweeps,
)

_DEFAULT = TrainConfig()


@app.command("sweep")
def sweep_command(
    seeds: str = typer.Option(
        "0:100", help="Seeds: a comma list and/or start:stop ranges (stop exclusive)."
    ),
    lrs: str | None = typer.Option(
        None, help="Learning rates, a comma list (every seed at every lr). Default: --lr."
    ),
    lr: float = typer.Option(_DEFAULT.lr, help="Learning rate when --lrs is not given, > 0."),
    epochs: int = typer.Option(_DEFAULT.epochs, help="Training epochs, >= 1."),
    eval_every: int = typer.Option(_DEFAULT.eval_every, help="Test loss every N epochs, >= 1."),
    samples: int | None = typer.Option(None, help="Evenly spaced samples instead of --step."),
    loss: str = typer.Option(_DEFAULT.loss, help=f"Loss function, one of: {', '.join(LOSSES)}."),
    device: str = typer.Option(_DEFAULT.device, help="cpu, cuda, cuda:N, mps or auto."),
    dtype: str = typer.Option(_DEFAULT.dtype, help=f"One of: {', '.join(DTYPES)}."),
    threads: int | None = typer.Option(None, help="torch intra-op threads for the sweep."),
    tolerance: float = typer.Option(
        DEFAULT_TOLERANCE,
        help="A member is 'within tolerance' if |w − true w| and |b − true b| are <= this.",
    ),
    out: Path | None = typer.Option(
        None, help="Sweep JSON to write (must not exist). Default: results/sweeps/<id>.json."
    ),
    check: Path | None = typer.Option(
        None,
        help="Instead of sweeping: check this run folder's train loss against the sweep band "
        "stored in --against; exit 1 if it leaves the band.",
    ),
    against: Path | None = typer.Option(None, help="The sweep JSON that --check compares with."),
    slack: float = typer.Option(
        DEFAULT_SLACK, help="--check widens the p05–p95 band by this share of its width, >= 0."
    ),
) -> int:
    """Train many seeds at once (batched engine); summarise the spread and the loss band."""
    if check is not None:
        return _check(check, against, slack)
    check_tolerance(tolerance)
    seed_list = list(parse_integers("seeds", seeds, 0, max_items=MAX_MEMBERS))
    lr_list = list(parse_positive_numbers("lrs", lrs)) if lrs is not None else None
    config = TrainConfig(
        lr=lr,
        epochs=epochs,
        eval_every=eval_every,
        samples=samples,
        loss=loss,
        device=device,
        dtype=dtype,
        threads=threads,
        engine="batched",
    )
    if out is not None and out.exists():
        raise ConfigError("out", f"{out} already exists; results are never overwritten")
    check_writable(out if out is not None else default_sweeps() / "sweep.json", "--out")
    members = len(seed_list) * (len(lr_list) if lr_list else 1)
    from linreg.suites.sweep import run_sweep, write_sweep  # imports torch

    with tracked(f"sweep: {members} members, epochs") as tracker:

        def on_progress(epoch: int, total: int) -> None:
            tracker.update(epoch + 1, total)

        sweep = run_sweep(
            config, seeds=seed_list, lrs=lr_list, tolerance=tolerance, on_progress=on_progress
        )
    path = write_sweep(sweep, out)
    table = Table(title=f"Sweep: {members} members, {config.epochs} epochs")
    table.add_column("quantity")
    for q in QUANTILES:
        table.add_column(quantile_key(q), justify="right")
    for name, values in sweep.quantiles.items():
        table.add_row(name, *(f"{values[quantile_key(q)]:.6g}" for q in QUANTILES))
    console.print(table)
    say(
        f"within ±{sweep.tolerance:g} of weight {config.weight:g} and bias {config.bias:g}: "
        f"{sweep.share_within_tolerance:.1%} of members; "
        f"final train loss band p05–p95 {sweep.band['p05'][-1]:.4g}–{sweep.band['p95'][-1]:.4g}; "
        f"train time {sweep.timings['train_seconds']:.3f} s"
    )
    say(f"sweep: OK: {members} members; written to {path}")
    return 0


def _check(run_folder: Path, against: Path | None, slack: float) -> int:
    if against is None:
        raise ConfigError("against", "--check needs --against SWEEP_JSON")
    check_slack(slack)
    from linreg.results.load import load_run, load_sweep
    from linreg.suites.sweep import check_against_band  # imports torch

    result = check_against_band(load_run(run_folder), load_sweep(against), slack=slack)
    if result.inside:
        say(
            f"sweep --check: OK: inside the band, all {result.epochs_checked} epochs within "
            f"p05–p95 (slack {slack:g})"
        )
        return 0
    fail(
        f"sweep --check: FAIL: leaves the band at epoch {result.first_epoch_outside}: train loss "
        f"{result.loss:.6g}, band {result.low:.6g}–{result.high:.6g} (off by "
        f"{result.excess:.3g}); {result.epochs_outside} of {result.epochs_checked} epochs outside"
    )
    return 1
