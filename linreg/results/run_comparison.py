"""The record of two runs compared (``linreg.compare.runs.compare_runs`` builds it): the level
reached, the first differing epoch, the agreement horizon, the figures per quantity and the
outcome bound. Stored in a repro set's checks.json under each check; read by the report, the
history site and `linreg compare` as attributes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from linreg.json_types import JsonObject
from linreg.tolerance import Tolerance

LEVELS = ("a", "b", "c", "d")
LEVEL_NAMES = {
    "a": "bit-identical",
    "b": "within tolerance",
    "c": "outcome-equivalent",
    "d": "different",
}


@dataclass(frozen=True)
class Divergence:
    """First index where two sequences differ at all, and first beyond tolerance (None: never)."""

    bitwise: int | None
    beyond_tolerance: int | None


@dataclass(frozen=True)
class QuantityDiff:
    """Max absolute, relative (to the reference) and ULP difference of one quantity."""

    max_abs: float
    max_rel: float
    max_ulp: int
    bitwise: bool
    within_tolerance: bool

    def to_dict(self) -> JsonObject:
        return {
            "max_abs": self.max_abs,
            "max_rel": _json_float(self.max_rel),
            "max_ulp": self.max_ulp,
            "bitwise": self.bitwise,
            "within_tolerance": self.within_tolerance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantityDiff:
        return cls(
            max_abs=float(data["max_abs"]),
            max_rel=_float_or_inf(data["max_rel"]),
            max_ulp=int(data["max_ulp"]),
            bitwise=bool(data["bitwise"]),
            within_tolerance=bool(data["within_tolerance"]),
        )


@dataclass(frozen=True)
class OutcomeBound:
    """How far apart two runs in the limit cycle may end: ``steps`` SGD steps."""

    steps: int
    weight: float
    bias: float
    loss: float

    def to_dict(self) -> JsonObject:
        return {"steps": self.steps, "weight": self.weight, "bias": self.bias, "loss": self.loss}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutcomeBound:
        return cls(int(data["steps"]), float(data["weight"]), float(data["bias"]),
                   float(data["loss"]))  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    """A candidate run against a reference run (relative differences are taken to the
    reference)."""

    candidate_label: str
    reference_label: str
    dtype: str
    tolerance: Tolerance
    quantities: dict[str, QuantityDiff]
    divergence: Divergence
    horizon: int | None
    max_abs_before_horizon: float
    max_rel_before_horizon: float
    final_candidate: dict[str, float]
    final_reference: dict[str, float]
    bound: OutcomeBound
    outcome_equivalent: bool
    level: str
    config_diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    environment_diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def bitwise(self) -> bool:
        return self.level == "a"

    @property
    def within_tolerance(self) -> bool:
        return self.level in ("a", "b")

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]

    @property
    def max_ulp(self) -> int:
        return max((q.max_ulp for q in self.quantities.values()), default=0)

    def to_dict(self) -> JsonObject:
        return {
            "candidate": self.candidate_label,
            "reference": self.reference_label,
            "dtype": self.dtype,
            "tolerance": {"rtol": self.tolerance.rtol, "atol": self.tolerance.atol},
            "level": self.level,
            "level_name": LEVEL_NAMES[self.level],
            "first_bitwise_difference_epoch": self.divergence.bitwise,
            "horizon": self.horizon,
            "max_abs_before_horizon": self.max_abs_before_horizon,
            "max_rel_before_horizon": _json_float(self.max_rel_before_horizon),
            "final_candidate": self.final_candidate,
            "final_reference": self.final_reference,
            "outcome_bound": self.bound.to_dict(),
            "outcome_equivalent": self.outcome_equivalent,
            "quantities": {k: v.to_dict() for k, v in self.quantities.items()},
            "config_diff": {k: list(v) for k, v in self.config_diff.items()},
            "environment_diff": {k: list(v) for k, v in self.environment_diff.items()},
        }

    @classmethod
    def from_dict(cls, data: Any) -> Comparison:
        """ValueError naming the field for anything malformed."""
        if not isinstance(data, dict):
            raise ValueError("a check's comparison must be an object")
        for key in ("candidate", "reference"):
            if not isinstance(data[key], str):
                raise ValueError(f"a comparison's {key} must be a string")
        if data["level"] not in LEVELS:
            raise ValueError(f"a comparison's level must be one of {', '.join(LEVELS)}")
        quantities = data["quantities"]
        if not isinstance(quantities, dict):
            raise ValueError("a comparison's quantities must be an object")
        tolerance = data.get("tolerance") or {}
        bound = data.get("outcome_bound") or {"steps": 0, "weight": math.nan, "bias": math.nan,
                                              "loss": math.nan}  # fmt: skip
        return cls(
            candidate_label=data["candidate"],
            reference_label=data["reference"],
            dtype=str(data.get("dtype", "")),
            tolerance=Tolerance(
                float(tolerance.get("rtol", 0.0)), float(tolerance.get("atol", 0.0))
            ),
            quantities={str(k): QuantityDiff.from_dict(v) for k, v in quantities.items()},
            divergence=Divergence(
                _int_or_none(data.get("first_bitwise_difference_epoch")),
                _int_or_none(data.get("horizon")),
            ),
            horizon=_int_or_none(data.get("horizon")),
            max_abs_before_horizon=float(data.get("max_abs_before_horizon") or 0.0),
            max_rel_before_horizon=_float_or_inf(data.get("max_rel_before_horizon", 0.0)),
            final_candidate=_floats(data.get("final_candidate") or {}),
            final_reference=_floats(data.get("final_reference") or {}),
            bound=OutcomeBound.from_dict(bound),
            outcome_equivalent=bool(data.get("outcome_equivalent", False)),
            level=data["level"],
            config_diff={str(k): tuple(v) for k, v in (data.get("config_diff") or {}).items()},
            environment_diff={
                str(k): tuple(v) for k, v in (data.get("environment_diff") or {}).items()
            },
        )


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _float_or_inf(value: Any) -> float:
    """A relative difference stored as null where it was infinite (against a zero)."""
    return math.inf if value is None else float(value)


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"an epoch must be an integer, not {value!r}")
    return value


def _floats(values: Any) -> dict[str, float]:
    if not isinstance(values, dict):
        raise ValueError("final values must be an object")
    return {str(k): math.nan if v is None else float(v) for k, v in values.items()}
