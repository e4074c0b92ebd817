"""Sweeps: many members on the batched engine, summarised as distributions and a loss band.

A stored sweep is a convergence reference: ``check_against_band`` flags a later run whose train
loss curve leaves the sweep's 5th–95th percentile band.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from linreg.config import TrainConfig
from linreg.engines.batched import ProgressCallback, train_batched
from linreg.engines.members import MemberOutcomes, MemberRuns
from linreg.results import kinds
from linreg.results.files import write_json_new
from linreg.results.load import load_sweep
from linreg.results.sweep_record import QUANTILES, Sweep, quantile_key
from linreg.run import Run
from linreg.suites.sweep_options import DEFAULT_SLACK, check_slack, check_tolerance, default_sweeps

__all__ = ["QUANTILES", "Sweep", "load_sweep", "quantile_key"]


def _compact(values: torch.Tensor) -> list[float]:
    # 7 significant digits: float32 resolution, and a third of the characters of exact float64s.
    return [float(f"{v:.7g}") for v in values.tolist()]


def summarise(
    config: TrainConfig, runs: Sequence[Run], tolerance: float = 0.01, timings=None
) -> Sweep:
    """Distributions over the members of ``runs`` (all of the same epochs).

    A batch's members (MemberRuns) are summarised from its tensors: no member's Run is built.
    """
    outcomes = runs.outcomes() if isinstance(runs, MemberRuns) else MemberOutcomes.of_runs(runs)
    columns = {
        "final_train_loss": outcomes.final_train_loss,
        "final_test_loss": outcomes.final_test_loss,
        "weight": outcomes.weight,
        "bias": outcomes.bias,
    }
    qs = torch.tensor(QUANTILES, dtype=torch.float64)
    quantiles = {
        name: dict(
            zip(
                (quantile_key(q) for q in QUANTILES),
                torch.quantile(values, qs).tolist(),
                strict=True,
            )
        )
        for name, values in columns.items()
    }
    within = ((outcomes.weight - outcomes.true_weight).abs() <= tolerance) & (
        (outcomes.bias - outcomes.true_bias).abs() <= tolerance
    )
    band_q = quantiles_of_rows(outcomes.train_loss_by_epoch, (0.05, 0.5, 0.95))
    members = {name: values.tolist() for name, values in columns.items()}
    members["seed"] = list(outcomes.seeds)
    members["lr"] = list(outcomes.lrs)
    return Sweep(
        config=config.replace(engine="batched"),
        seeds=tuple(dict.fromkeys(outcomes.seeds)),
        lrs=tuple(dict.fromkeys(outcomes.lrs)),
        members=members,
        quantiles=quantiles,
        tolerance=tolerance,
        share_within_tolerance=int(within.sum()) / len(within),
        band={
            "p05": _compact(band_q[0]),
            "median": _compact(band_q[1]),
            "p95": _compact(band_q[2]),
        },
        timings=dict(timings or {}),
    )


def quantiles_of_rows(rows: torch.Tensor, qs: Sequence[float]) -> torch.Tensor:
    """``torch.quantile(rows.double(), qs, dim=1)``, the same values, sorted by numpy instead.

    torch's CPU sort takes about 35 times numpy's on a sweep's band (500 epochs × 1,000 members),
    longer than the whole sweep's training. The steps after the sort are torch.quantile's own
    (linear interpolation: ranks q·(n − 1), the values below and above them, lerp by the rank's
    fraction), so the results are identical; the tests compare them. Rows must be finite.
    """
    if rows.element_size() < 4:  # numpy has no bfloat16; float32 holds 16-bit floats exactly
        rows = rows.to(torch.float32)
    ordered = torch.from_numpy(np.sort(rows.cpu().numpy(), axis=1))
    ranks = torch.tensor(qs, dtype=torch.float64) * (ordered.shape[1] - 1)
    below = ranks.to(torch.long)
    weights = ranks - below
    above = ranks.ceil().to(torch.long)
    values_below = ordered[:, below].to(torch.float64)
    values_above = ordered[:, above].to(torch.float64)
    return values_below.lerp_(values_above, weights).T


def run_sweep(
    config: TrainConfig,
    seeds: Sequence[int] | None = None,
    lrs: Sequence[float] | None = None,
    tolerance: float = 0.01,
    on_progress: ProgressCallback | None = None,
) -> Sweep:
    """Train every (seed, lr) member on the batched engine and summarise them."""
    check_tolerance(tolerance)
    runs = train_batched(config, seeds=seeds, lrs=lrs, on_progress=on_progress)
    return summarise(config, runs, tolerance=tolerance, timings=runs[0].timings)


def write_sweep(sweep: Sweep, path: str | Path | None = None) -> Path:
    """Write atomically; never overwrite. Default: results/sweeps/<time>-<config id>.json."""
    if path is None:
        name = f"{kinds.utc_stamp()}-{sweep.member_count}m-{sweep.config.config_id[:8]}.json"
        path = default_sweeps() / name
    return write_json_new(path, kinds.envelope(kinds.SWEEP, sweep.to_dict()))


@dataclass(frozen=True)
class BandCheck:
    """Whether a run's train loss curve stays inside a sweep's p05–p95 band."""

    inside: bool
    epochs_checked: int
    epochs_outside: int
    first_epoch_outside: int | None
    # At the first epoch outside: the run's loss, the band's edges, and how far beyond the edge.
    loss: float | None = None
    low: float | None = None
    high: float | None = None
    excess: float | None = None


def check_against_band(run: Run, sweep: Sweep, slack: float = DEFAULT_SLACK) -> BandCheck:
    """Compare ``run``'s train loss, epoch by epoch, with the band widened by ``slack``·(p95−p05).

    A strict 5–95 band excludes a tenth of the sweep's own members at every epoch, and most
    members somewhere along 500 epochs; the default slack of half the band's width lets an
    ordinary seed pass while a wrong learning rate still leaves it. Only the epochs both curves
    have are checked.
    """
    check_slack(slack)
    low = torch.tensor(sweep.band["p05"], dtype=torch.float64)
    high = torch.tensor(sweep.band["p95"], dtype=torch.float64)
    width = high - low
    low, high = low - slack * width, high + slack * width
    n = min(len(run.history.train_loss), len(low))
    loss = torch.tensor(run.history.train_loss[:n], dtype=torch.float64)
    low, high = low[:n], high[:n]
    outside = (loss < low) | (loss > high)
    count = int(outside.sum())
    if count == 0:
        return BandCheck(inside=True, epochs_checked=n, epochs_outside=0, first_epoch_outside=None)
    e = int(outside.nonzero()[0, 0])
    excess = float(low[e] - loss[e]) if loss[e] < low[e] else float(loss[e] - high[e])
    return BandCheck(
        inside=False,
        epochs_checked=n,
        epochs_outside=count,
        first_epoch_outside=e,
        loss=float(loss[e]),
        low=float(low[e]),
        high=float(high[e]),
        excess=excess,
    )
