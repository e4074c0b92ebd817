"""Sweeps: many members on the batched engine, summarised as distributions and a loss band.

A stored sweep is a convergence reference: ``check_against_band`` flags a later run whose train
loss curve leaves the sweep's 5th–95th percentile band.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from linreg.config import TrainConfig
from linreg.engines.batched import ProgressCallback, train_batched
from linreg.errors import ResultSetError
from linreg.run import Run
from linreg.store import read_json, write_json_new

SWEEP_SCHEMA_VERSION = 1
DEFAULT_SWEEPS = Path("results") / "sweeps"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
DEFAULT_SLACK = 0.5
MEMBER_FIELDS = ("final_train_loss", "final_test_loss", "weight", "bias")


def _compact(values: torch.Tensor) -> list[float]:
    # 7 significant digits: float32 resolution, and a third of the characters of exact float64s.
    return [float(f"{v:.7g}") for v in values.tolist()]


@dataclass(frozen=True)
class Sweep:
    """A sweep's base config, its members' outcomes and the per-epoch train loss band."""

    config: TrainConfig
    seeds: tuple[int, ...]
    lrs: tuple[float, ...]
    members: dict[str, list[float]]  # per member (seed-major), each of MEMBER_FIELDS, plus seed/lr
    quantiles: dict[str, dict[str, float]]  # field → {"q05": …, …}
    tolerance: float
    share_within_tolerance: float
    band: dict[str, list[float]]  # "p05", "median", "p95": one value per epoch
    timings: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "sweep",
            "schema_version": SWEEP_SCHEMA_VERSION,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "config": self.config.to_dict(),
            "seeds": list(self.seeds),
            "lrs": list(self.lrs),
            "members": self.members,
            "quantiles": self.quantiles,
            "tolerance": self.tolerance,
            "share_within_tolerance": self.share_within_tolerance,
            "band": self.band,
            "timings": self.timings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sweep:
        return cls(
            config=TrainConfig.from_dict(data["config"]),
            seeds=tuple(int(s) for s in data["seeds"]),
            lrs=tuple(float(v) for v in data["lrs"]),
            members=data["members"],
            quantiles=data["quantiles"],
            tolerance=float(data["tolerance"]),
            share_within_tolerance=float(data["share_within_tolerance"]),
            band={k: [float(v) for v in vs] for k, vs in data["band"].items()},
            timings=data.get("timings", {}),
        )


def quantile_key(q: float) -> str:
    return f"q{round(q * 100):02d}"


def summarise(
    config: TrainConfig, runs: Sequence[Run], tolerance: float = 0.01, timings=None
) -> Sweep:
    """Distributions over the members of ``runs`` (all of the same epochs)."""
    columns = {
        "final_train_loss": [r.history.train_loss[-1] for r in runs],
        "final_test_loss": [r.history.test_loss[-1] for r in runs],
        "weight": [r.final_weight for r in runs],
        "bias": [r.final_bias for r in runs],
    }
    qs = torch.tensor(QUANTILES, dtype=torch.float64)
    quantiles = {
        name: dict(
            zip(
                (quantile_key(q) for q in QUANTILES),
                torch.quantile(torch.tensor(values, dtype=torch.float64), qs).tolist(),
                strict=True,
            )
        )
        for name, values in columns.items()
    }
    within = [
        abs(r.final_weight - r.config.weight) <= tolerance
        and abs(r.final_bias - r.config.bias) <= tolerance
        for r in runs
    ]
    curves = torch.tensor([r.history.train_loss for r in runs], dtype=torch.float64)
    band_q = torch.quantile(curves, torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64), dim=0)
    members = {name: list(values) for name, values in columns.items()}
    members["seed"] = [r.config.seed for r in runs]
    members["lr"] = [r.config.lr for r in runs]
    return Sweep(
        config=config.replace(engine="batched"),
        seeds=tuple(dict.fromkeys(r.config.seed for r in runs)),
        lrs=tuple(dict.fromkeys(r.config.lr for r in runs)),
        members=members,
        quantiles=quantiles,
        tolerance=tolerance,
        share_within_tolerance=sum(within) / len(within),
        band={
            "p05": _compact(band_q[0]),
            "median": _compact(band_q[1]),
            "p95": _compact(band_q[2]),
        },
        timings=dict(timings or {}),
    )


def run_sweep(
    config: TrainConfig,
    seeds: Sequence[int] | None = None,
    lrs: Sequence[float] | None = None,
    tolerance: float = 0.01,
    on_progress: ProgressCallback | None = None,
) -> Sweep:
    """Train every (seed, lr) member on the batched engine and summarise them."""
    runs = train_batched(config, seeds=seeds, lrs=lrs, on_progress=on_progress)
    return summarise(config, runs, tolerance=tolerance, timings=runs[0].timings)


def write_sweep(sweep: Sweep, path: str | Path | None = None) -> Path:
    """Write atomically; never overwrite. Default: results/sweeps/<time>-<config id>.json."""
    if path is None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = (
            DEFAULT_SWEEPS
            / f"{stamp}-{len(sweep.members['seed'])}m-{sweep.config.config_id[:8]}.json"
        )
    return write_json_new(path, sweep.to_dict())


def load_sweep(path: str | Path) -> Sweep:
    data = read_json(path)
    if data.get("kind") != "sweep":
        raise ResultSetError(f"{path}: not a linreg sweep")
    if data.get("schema_version") != SWEEP_SCHEMA_VERSION:
        raise ResultSetError(
            f"{path}: sweep schema_version {data.get('schema_version')!r}, "
            f"this linreg reads {SWEEP_SCHEMA_VERSION}"
        )
    try:
        return Sweep.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultSetError(f"{path}: malformed sweep ({exc})") from exc


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
