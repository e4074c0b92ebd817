"""A same-machine A/B's record (its ab.json): the two stacks, the numeric verdict run by run, the
speed verdict, and what failed. ``linreg.suites.ab`` writes it; the report and `linreg ab` read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linreg.json_types import JsonObject
from linreg.results import speed_verdict
from linreg.results.run_comparison import LEVEL_NAMES, LEVELS
from linreg.results.speed_verdict import SpeedVerdict

ROLES = ("reference", "candidate")
NOT_RUN, NONE_IN_COMMON = "not run", "no run in common"


@dataclass(frozen=True)
class StackInfo:
    """A side of the A/B as it described itself: its Python and torch, interpreter, checkout."""

    python: str
    torch: str
    interpreter: str
    root: str

    def to_dict(self) -> dict[str, str]:
        return {"python": self.python, "torch": self.torch, "interpreter": self.interpreter,
                "root": self.root}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> StackInfo:
        if not isinstance(data, dict):
            raise ValueError("stacks must be an object of objects")
        return cls(*(str(data.get(key, "")) for key in ("python", "torch", "interpreter", "root")))


@dataclass(frozen=True)
class AbPair:
    """One run of the candidate's repro matrix against the same config's run in the
    reference's."""

    run: str
    level: str  # a-d
    first_bitwise_difference_epoch: int | None
    horizon: int | None
    final_weight: tuple[float, float] | None  # reference's, candidate's
    within_tolerance: bool

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]

    def to_dict(self) -> JsonObject:
        return {
            "run": self.run,
            "level": self.level,
            "level_name": self.level_name,
            "first_bitwise_difference_epoch": self.first_bitwise_difference_epoch,
            "horizon": self.horizon,
            "final_weight": None if self.final_weight is None else list(self.final_weight),
            "within_tolerance": self.within_tolerance,
        }

    @classmethod
    def from_dict(cls, data: Any) -> AbPair:
        if not isinstance(data, dict) or not isinstance(data.get("run"), str):
            raise ValueError("a numeric pair needs a run and a level a-d")
        if data.get("level") not in LEVELS:
            raise ValueError("a numeric pair needs a run and a level a-d")
        weights = data.get("final_weight")
        pair = None
        if isinstance(weights, list) and len(weights) == 2:
            pair = (float(weights[0]), float(weights[1]))
        return cls(
            run=data["run"],
            level=data["level"],
            first_bitwise_difference_epoch=_epoch(data.get("first_bitwise_difference_epoch")),
            horizon=_epoch(data.get("horizon")),
            final_weight=pair,
            within_tolerance=bool(data.get("within_tolerance", data["level"] in ("a", "b"))),
        )


@dataclass(frozen=True)
class NumericVerdict:
    """The worst level over the pairs (the verdict), or why there are none ("not run", "no run
    in common", "no repro results (…)")."""

    verdict: str
    pairs: tuple[AbPair, ...] = ()

    @property
    def verdict_name(self) -> str:
        return LEVEL_NAMES.get(self.verdict, self.verdict)

    @classmethod
    def of(cls, pairs: tuple[AbPair, ...]) -> NumericVerdict:
        if not pairs:
            return cls(NONE_IN_COMMON)
        return cls(max((p.level for p in pairs), key=LEVELS.index), pairs)

    def to_dict(self) -> JsonObject:
        body: dict[str, Any] = {"verdict": self.verdict, "pairs": [p.to_dict() for p in self.pairs]}
        if self.verdict in LEVELS:
            body["verdict_name"] = self.verdict_name
        return body

    @classmethod
    def from_dict(cls, data: Any) -> NumericVerdict:
        if not isinstance(data, dict) or not isinstance(data.get("verdict"), str):
            raise ValueError("numeric must be an object with a verdict")
        if not isinstance(data["pairs"], list):
            raise ValueError("numeric pairs must be a list")
        return cls(data["verdict"], tuple(AbPair.from_dict(p) for p in data["pairs"]))


@dataclass(frozen=True)
class AbResult:
    stacks: Mapping[str, StackInfo]  # by role
    speed: SpeedVerdict | None
    numeric: NumericVerdict
    seconds: float
    failures: tuple[str, ...] = ()

    @property
    def numeric_failures(self) -> list[AbPair]:
        """The pairs beyond tolerance (level c or d): the same config on two stacks must agree
        within tolerance, the rule `linreg compare` applies to two runs."""
        return [p for p in self.numeric.pairs if not p.within_tolerance]

    def to_dict(self) -> JsonObject:
        return {
            "stacks": {role: stack.to_dict() for role, stack in self.stacks.items()},
            "speed": None if self.speed is None else self.speed.to_dict(),
            "numeric": self.numeric.to_dict(),
            "seconds": self.seconds,
            "failures": list(self.failures),
        }

    @classmethod
    def from_dict(cls, data: Any) -> AbResult:
        stacks = data["stacks"]
        if not isinstance(stacks, dict):
            raise ValueError("stacks must be an object of objects")
        speed = data["speed"]
        if isinstance(speed, dict) and "summary" in speed:
            # Stored inside ab.json without a schema version of its own: one that still says
            # its summary in words is of the speed verdict's schema 2.
            speed = speed_verdict.upgrade(speed, 2)
        failures = data.get("failures") or []
        if not isinstance(failures, list):
            raise ValueError("failures must be a list")
        return cls(
            stacks={str(role): StackInfo.from_dict(s) for role, s in stacks.items()},
            speed=None if speed is None else SpeedVerdict.from_dict(speed),
            numeric=NumericVerdict.from_dict(data["numeric"]),
            seconds=float(data.get("seconds") or 0.0),
            failures=tuple(str(f) for f in failures),
        )


def _epoch(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
