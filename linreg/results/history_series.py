"""A case's metric over the sessions of one host (wall time) or one stack (instructions), with
the steps found in it: what ``linreg.compare.over_time.case_series`` gives and `linreg compare
--all` and the history site show."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from linreg.json_types import JsonObject
from linreg.results.speed_verdict import FASTER, NO_CHANGE, SLOWER, CaseVerdict

WALL, INSTRUCTIONS = "wall", "instructions"
METRICS = (INSTRUCTIONS, WALL)
# A step "in the newest sessions" of a series: its new level began this few sessions ago.
RECENT_SESSIONS = 5
# What a step at the end of a series is, once judged (``Regression.kind``): slower and earned
# with something changed across it (commit, stack, host); faster alike; too few sessions or too
# much noise to decide; or the same code on the same stack and host on both sides, whatever it
# measured (the machine, not the code), or a change within the threshold.
REGRESSION, UNDECIDED_STEP, SPEED_UP, NOISE = "regression", "undecided", "speed-up", "noise"
STEP_KINDS = (REGRESSION, UNDECIDED_STEP, SPEED_UP, NOISE)


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
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in vars(self).items()}  # fmt: skip

    @classmethod
    def from_dict(cls, data: JsonObject) -> SeriesStep:
        z = data["z"]
        return cls(int(data["position"]), int(data["session"]), float(data["ratio"]),
                   float(data["before"]), float(data["after"]),
                   math.nan if z is None else float(z))  # fmt: skip


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
    # A jump at its end that its newest sessions make and too few of them to stand out of the
    # noise as a step (``z`` NaN): undecided, never "no step".
    pending: SeriesStep | None = None

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
            "pending": None if self.pending is None else self.pending.to_dict(),
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
            pending=None if data.get("pending") is None else SeriesStep.from_dict(data["pending"]),
        )


@dataclass(frozen=True)
class StepChange:
    """What differs between the sessions before a step and those after it: a commit, stack or
    host after it that none before it ran on. ``boundary`` is the last session's commit before
    and the first one's after (None: a file that records none)."""

    commit: bool
    stack: bool
    host: bool
    commit_known: bool  # every session on both sides records its commit
    boundary: tuple[str | None, str | None]
    stacks: tuple[str, str]  # the last session's before, the first one's after
    hosts: tuple[str, str]

    @property
    def nothing(self) -> bool:
        """The same code on the same stack and host on both sides: what moved was the machine."""
        return self.commit_known and not (self.commit or self.stack or self.host)


@dataclass(frozen=True)
class Regression:
    """A step at the end of a series (or its pending jump), judged as a speed verdict is: the
    sessions before it against those after it (``verdict``, its ``samples`` counted in
    sessions), with what changed across it. What the site's index and `compare --all` list."""

    series: Series
    step: SeriesStep
    verdict: CaseVerdict | None = None
    change: StepChange | None = None
    pending: bool = False  # the series' pending jump, not a step found

    @property
    def sessions_ago(self) -> int:
        """How many sessions of its series have run at the new level."""
        return len(self.series) - self.step.position

    @property
    def kind(self) -> str:
        """REGRESSION only where earned and something changed; a step over the same code on the
        same stack and host is NOISE whatever it measured."""
        if self.change is not None and self.change.nothing:
            return NOISE
        outcome = None if self.verdict is None else self.verdict.outcome
        if outcome == SLOWER:
            return REGRESSION
        if outcome == FASTER:
            return SPEED_UP
        if outcome == NO_CHANGE:
            return NOISE
        return UNDECIDED_STEP
