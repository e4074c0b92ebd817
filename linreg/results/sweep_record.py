"""Sweep: the stored summary of a sweep, as ``linreg sweep`` writes it and ``--check`` reads it."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from linreg.config import TrainConfig
from linreg.json_types import JsonObject
from linreg.run import finite_floats

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MEMBER_FIELDS = ("final_train_loss", "final_test_loss", "weight", "bias")
BAND_KEYS = ("p05", "median", "p95")


def quantile_key(q: float) -> str:
    return f"q{round(q * 100):02d}"


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

    @property
    def member_count(self) -> int:
        return len(self.members["seed"])

    def to_dict(self) -> JsonObject:
        """The record's body; linreg.results adds its kind and schema version when writing."""
        return {
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
    def from_dict(cls, data: JsonObject) -> Sweep:
        """Read a stored sweep back; ValueError when its parts do not fit together."""
        config = TrainConfig.from_dict(data["config"])
        band = {key: list(finite_floats(f"band.{key}", data["band"][key])) for key in BAND_KEYS}
        for key, values in band.items():
            if len(values) != config.epochs:
                raise ValueError(
                    f"band.{key} has {len(values)} epochs, the config says {config.epochs}"
                )
        members = data["members"]
        if not isinstance(members, dict):
            raise ValueError("members must be an object of columns")
        count = len(members["seed"])
        for name in (*MEMBER_FIELDS, "lr"):
            if len(finite_floats(f"members.{name}", members[name])) != count:
                raise ValueError(f"members.{name} does not have one value per member ({count})")
        tolerance = float(data["tolerance"])
        share = float(data["share_within_tolerance"])
        if not (math.isfinite(tolerance) and tolerance >= 0 and 0 <= share <= 1):
            raise ValueError("tolerance must be a finite number >= 0, its share in [0, 1]")
        quantiles = data["quantiles"]
        if not isinstance(quantiles, dict):
            raise ValueError("quantiles must be an object")
        return cls(
            config=config,
            seeds=tuple(int(s) for s in data["seeds"]),
            lrs=finite_floats("lrs", data["lrs"]),
            members=members,
            quantiles=quantiles,
            tolerance=tolerance,
            share_within_tolerance=share,
            band=band,
            timings=data.get("timings", {}),
        )
