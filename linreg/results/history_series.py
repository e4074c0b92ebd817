"""A case's metric over the sessions of one host (wall time) or one stack (instructions), with
the steps found in it: what ``linreg.compare.over_time.case_series`` gives and `linreg compare
--all` and the history site show."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linreg.json_types import JsonObject

WALL, INSTRUCTIONS = "wall", "instructions"
METRICS = (INSTRUCTIONS, WALL)
# A step "in the newest sessions" of a series: its new level began this few sessions ago.
RECENT_SESSIONS = 5


@dataclass(frozen=True)
class SeriesStep:
    """A step of a series: from ``position`` on (``session``, an index into
    History.sessions) its level is ``ratio`` times the level before."""

    position: int
    session: int
    ratio: float
    before: float
    after: float
    z: float

    @property
    def slower(self) -> bool:
        return self.ratio > 1

    def to_dict(self) -> JsonObject:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data: JsonObject) -> SeriesStep:
        return cls(int(data["position"]), int(data["session"]), float(data["ratio"]),
                   float(data["before"]), float(data["after"]), float(data["z"]))  # fmt: skip


@dataclass(frozen=True, eq=False)
class Series:
    """One case's metric over the sessions of one host (wall) or one stack (instructions)."""

    case: str
    metric: str
    key: str  # the host (wall time) or the stack key (instructions)
    sessions: np.ndarray  # indices into History.sessions, oldest first
    values: np.ndarray
    low: np.ndarray  # the band: lowest process, or a single process's first quartile
    high: np.ndarray
    steps: tuple[SeriesStep, ...] = ()

    def __len__(self) -> int:
        return len(self.values)

    def recent_steps(self, sessions: int = RECENT_SESSIONS) -> tuple[SeriesStep, ...]:
        """Steps whose new level began in the newest ``sessions`` sessions of this series."""
        return tuple(s for s in self.steps if s.position >= len(self) - sessions)

    def to_dict(self) -> JsonObject:
        return {
            "case": self.case,
            "metric": self.metric,
            "key": self.key,
            "sessions": self.sessions.tolist(),
            "values": self.values.tolist(),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> Series:
        if data["metric"] not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}")
        return cls(
            case=str(data["case"]),
            metric=data["metric"],
            key=str(data["key"]),
            sessions=np.array(data["sessions"], dtype=int),
            values=np.array(data["values"], dtype=float),
            low=np.array(data["low"], dtype=float),
            high=np.array(data["high"], dtype=float),
            steps=tuple(SeriesStep.from_dict(s) for s in data["steps"]),
        )


@dataclass(frozen=True)
class Regression:
    """A step at the end of a series: what the site's index lists."""

    series: Series
    step: SeriesStep

    @property
    def sessions_ago(self) -> int:
        """How many sessions of its series have run at the new level."""
        return len(self.series) - self.step.position
