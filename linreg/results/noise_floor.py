"""A machine's noise floor: how much the same code's timings move on it.

Measured from A/A processes (`linreg bench --processes 8`: one session of unchanged code),
stored beside that machine's results, and read by a comparison on that machine from whichever
side holds it. Per case:

- ``wall``: the furthest process from the median, relative (shown; also what decides "unstable");
- ``process_sd``: the standard deviation of the processes' log times, s_p;
- ``between_sessions``: the between-session spread, where the folder holds two or more sessions
  of the same code and stack (one-way random effects on log times), kept as its mean squares and
  the sessions and processes they came from (``SessionSpread``): the point estimate
  s_b² = max(0, (MS_between − MS_within) / n₀) is what is shown, and a comparison bounds the
  term from the mean squares and their degrees of freedom (``linreg.compare.session_term``),
  because from two or three sessions s_b itself can be far below the truth, or 0;
- ``instructions``: the furthest process's instruction count from the median, relative.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from linreg.json_types import JsonObject
from linreg.results.bench_sessions import CaseSamples


def spread(values: Sequence[float]) -> float:
    """How far the furthest sample lies from the median, relative to it (0 for one sample)."""
    if len(values) < 2:
        return 0.0
    middle = statistics.median(values)
    return max(abs(v / middle - 1) for v in values) if middle > 0 else math.inf


def _squares(logs: Sequence[float]) -> float:
    """The sum of squared deviations from the mean, in floats (statistics.variance's exact
    fractions cost more than the rest of a comparison, for digits no verdict reads)."""
    mean = math.fsum(logs) / len(logs)
    return math.fsum((v - mean) ** 2 for v in logs)


def log_sd(*sides: Sequence[float]) -> float | None:
    """The pooled standard deviation of log values over the sides with two or more positive
    values; None where none has two."""
    squares, degrees = 0.0, 0
    for side in sides:
        logs = [math.log(v) for v in side if v > 0]
        if len(logs) >= 2:
            squares += _squares(logs)
            degrees += len(logs) - 1
    return math.sqrt(squares / degrees) if degrees else None


@dataclass(frozen=True)
class SessionSpread:
    """One case's spread between A/A sessions (same code, same machine, run apart), as the
    one-way random-effects mean squares of log times and what they came from: enough to bound
    the between-session term, not only to estimate it."""

    sessions: int  # k: sessions of two or more processes
    processes: int  # N: their processes, all together
    between: float  # MS_between, k − 1 degrees of freedom
    within: float  # MS_within, N − k degrees of freedom
    n0: float  # processes a session, as MS_between weighs them (their count where equal)

    def __post_init__(self) -> None:
        if not (isinstance(self.sessions, int) and self.sessions >= 2):
            raise ValueError("a between-session spread needs two or more sessions")
        if not (isinstance(self.processes, int) and self.processes >= 2 * self.sessions):
            raise ValueError("a between-session spread needs two or more processes a session")
        for name in ("between", "within", "n0"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and math.isfinite(value) and value >= 0):  # fmt: skip
                raise ValueError(f"a between-session spread's {name} must be a number >= 0")
        if self.n0 <= 0:
            raise ValueError("a between-session spread's n0 must be above 0")

    @property
    def degrees(self) -> int:
        """Of MS_between, and so of any bound on the between-session term."""
        return self.sessions - 1

    @property
    def sd(self) -> float:
        """The point estimate s_b, floored at 0 (where the sessions' levels differ by less than
        their processes explain)."""
        return math.sqrt(max(0.0, (self.between - self.within) / self.n0))

    @property
    def level_sd(self) -> float:
        """The spread of one session's mean level, √(MS_between / n₀): s_b² + s_w²/n₀ where
        s_b is not floored, and above 0 where it is."""
        return math.sqrt(self.between / self.n0)

    def to_dict(self) -> JsonObject:
        return {
            "sessions": self.sessions,
            "processes": self.processes,
            "between": self.between,
            "within": self.within,
            "n0": self.n0,
            "sd": self.sd,  # for a reader of the file; rebuilt from the mean squares on load
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> SessionSpread:
        return cls(
            sessions=data["sessions"],
            processes=data["processes"],
            between=data["between"],
            within=data["within"],
            n0=data["n0"],
        )


def session_spread(sessions: Sequence[Sequence[float]]) -> SessionSpread | None:
    """The mean squares of log values between and within sessions (one-way random effects),
    from two or more sessions of two or more processes; None where there are fewer."""
    groups = [[math.log(v) for v in s if v > 0] for s in sessions]
    groups = [g for g in groups if len(g) >= 2]
    k = len(groups)
    if k < 2:
        return None
    total = sum(len(g) for g in groups)
    grand = math.fsum(math.fsum(g) for g in groups) / total
    means = [math.fsum(g) / len(g) for g in groups]
    between = math.fsum(len(g) * (m - grand) ** 2 for g, m in zip(groups, means, strict=True))
    within = math.fsum(_squares(g) for g in groups)
    n0 = (total - sum(len(g) ** 2 for g in groups) / total) / (k - 1)
    return SessionSpread(k, total, between / (k - 1), within / (total - k), n0)


def session_sd(sessions: Sequence[Sequence[float]]) -> float | None:
    """The between-session standard deviation of log values (method of moments, floored at 0),
    from two or more sessions of two or more processes; None where there are fewer."""
    found = session_spread(sessions)
    return None if found is None else found.sd


@dataclass(frozen=True)
class NoiseFloor:
    """Each case's spread on one machine, from A/A processes (same code)."""

    machine: str | None
    processes: int
    wall: dict[str, float] = field(default_factory=dict)
    instructions: dict[str, float] = field(default_factory=dict)
    process_sd: dict[str, float] = field(default_factory=dict)
    between_sessions: dict[str, SessionSpread] = field(default_factory=dict)
    sessions: int = 1  # sessions of the same code the between-session spread came from

    @property
    def session_sd(self) -> dict[str, float]:
        """Each case's point estimate s_b (shown; a comparison bounds the term instead)."""
        return {case: spread.sd for case, spread in self.between_sessions.items()}

    @classmethod
    def measure(
        cls,
        machine: str | None,
        samples: Mapping[str, CaseSamples],
        earlier: Sequence[Mapping[str, CaseSamples]] = (),
    ) -> NoiseFloor:
        """From one session's processes, and ``earlier`` sessions of the same code and stack on
        the same machine for the between-session spread."""
        processes = max((len(s.wall) for s in samples.values()), default=0)
        between = {}
        for case, s in samples.items():
            found = session_spread([s.wall, *(e[case].wall for e in earlier if case in e)])
            if found is not None:
                between[case] = found
        return cls(
            machine=machine,
            processes=processes,
            wall={c: spread(s.wall) for c, s in samples.items() if len(s.wall) >= 2},
            instructions={
                c: spread(s.instructions) for c, s in samples.items() if len(s.instructions) >= 2
            },
            process_sd={c: sd for c, s in samples.items() if (sd := log_sd(s.wall)) is not None},
            between_sessions=between,
            sessions=1 + len(earlier),
        )

    def to_dict(self) -> JsonObject:
        return {
            "machine": self.machine,
            "processes": self.processes,
            "sessions": self.sessions,
            "wall": self.wall,
            "instructions": self.instructions,
            "process_sd": self.process_sd,
            "between_sessions": {c: s.to_dict() for c, s in self.between_sessions.items()},
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> NoiseFloor:
        """A record of the current schema (``upgrade`` first for an older one)."""

        def fractions(key: str, required: bool = True) -> dict[str, float]:
            if not required and key not in data:
                return {}  # written before linreg measured it
            values = data[key]
            if not isinstance(values, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                for v in values.values()
            ):
                raise ValueError(f"{key} must map cases to spreads >= 0")
            return {str(k): float(v) for k, v in values.items()}

        sessions = data.get("sessions", 1)
        if not isinstance(sessions, int) or isinstance(sessions, bool) or sessions < 1:
            raise ValueError("sessions must be an integer >= 1")
        return cls(
            machine=data["machine"],
            processes=int(data["processes"]),
            wall=fractions("wall"),
            instructions=fractions("instructions"),
            process_sd=fractions("process_sd", required=False),
            between_sessions={
                str(case): SessionSpread.from_dict(spread)
                for case, spread in data.get("between_sessions", {}).items()
            },
            sessions=sessions,
        )


def upgrade(data: JsonObject, version: int) -> JsonObject:
    """A schema-1 noise floor in schema 2's terms. Schema 1 kept each case's s_b alone, floored
    at 0, and the newest session's process spread s_p over its processes n; the mean squares are
    rebuilt from them as MS_within = s_p² and MS_between = n·s_b² + s_p², with the file's sessions
    as k. Where s_b was floored, MS_between was at most MS_within, so the rebuilt one is at least
    as large as it was: a wider bound, never a narrower one. A case without s_p has no spread
    (the comparison then says the term is unknown)."""
    body = {k: v for k, v in data.items() if k != "session_sd"}
    body["schema_version"] = 2
    old = data.get("session_sd") or {}
    process_sd = data.get("process_sd") or {}
    sessions, processes = data.get("sessions", 1), data.get("processes")
    body["between_sessions"] = {}
    if not isinstance(old, dict) or not isinstance(process_sd, dict):
        raise ValueError("session_sd and process_sd must map cases to spreads")
    if not (isinstance(sessions, int) and sessions >= 2 and isinstance(processes, int)
            and processes >= 2):  # fmt: skip
        return body
    for case, sd in old.items():
        within = process_sd.get(case)
        if not isinstance(sd, (int, float)) or not isinstance(within, (int, float)):
            continue
        body["between_sessions"][case] = SessionSpread(
            sessions, sessions * processes, processes * sd**2 + within**2, within**2,
            float(processes),
        ).to_dict()  # fmt: skip
    return body
