"""A machine's noise floor: how much the same code's timings move on it.

Measured from A/A processes (`linreg bench --processes 8`: one session of unchanged code),
stored beside that machine's results, and read by a comparison on that machine from whichever
side holds it. Per case:

- ``wall``: the furthest process from the median, relative (shown; also what decides "unstable");
- ``process_sd``: the standard deviation of the processes' log times, s_p;
- ``session_sd``: the between-session spread s_b, estimated where the folder holds two or more
  sessions of the same code and stack (one-way random effects on log times):
  s_b² = max(0, (MS_between − MS_within) / n₀). Two sessions measured apart in time differ by
  that much more than their processes explain; a comparison adds 2·s_b² to its variance;
- ``instructions``: the furthest process's instruction count from the median, relative.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from linreg.results.bench_sessions import CaseSamples


def spread(values: Sequence[float]) -> float:
    """How far the furthest sample lies from the median, relative to it (0 for one sample)."""
    if len(values) < 2:
        return 0.0
    middle = statistics.median(values)
    return max(abs(v / middle - 1) for v in values) if middle > 0 else math.inf


def log_sd(*sides: Sequence[float]) -> float | None:
    """The pooled standard deviation of log values over the sides with two or more positive
    values; None where none has two."""
    squares, degrees = 0.0, 0
    for side in sides:
        logs = [math.log(v) for v in side if v > 0]
        if len(logs) >= 2:
            squares += statistics.variance(logs) * (len(logs) - 1)
            degrees += len(logs) - 1
    return math.sqrt(squares / degrees) if degrees else None


def session_sd(sessions: Sequence[Sequence[float]]) -> float | None:
    """The between-session standard deviation of log values (one-way random effects, method of
    moments), from two or more sessions of two or more processes; None where there are fewer."""
    groups = [[math.log(v) for v in s if v > 0] for s in sessions]
    groups = [g for g in groups if len(g) >= 2]
    k = len(groups)
    if k < 2:
        return None
    total = sum(len(g) for g in groups)
    grand = sum(sum(g) for g in groups) / total
    means = [statistics.fmean(g) for g in groups]
    between = sum(len(g) * (m - grand) ** 2 for g, m in zip(groups, means, strict=True)) / (k - 1)
    within = sum((v - m) ** 2 for g, m in zip(groups, means, strict=True) for v in g) / (total - k)
    n0 = (total - sum(len(g) ** 2 for g in groups) / total) / (k - 1)
    return math.sqrt(max(0.0, (between - within) / n0))


@dataclass(frozen=True)
class NoiseFloor:
    """Each case's spread on one machine, from A/A processes (same code)."""

    machine: str | None
    processes: int
    wall: dict[str, float] = field(default_factory=dict)
    instructions: dict[str, float] = field(default_factory=dict)
    process_sd: dict[str, float] = field(default_factory=dict)
    session_sd: dict[str, float] = field(default_factory=dict)
    sessions: int = 1  # sessions of the same code the between-session spread came from

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
            found = session_sd([s.wall, *(e[case].wall for e in earlier if case in e)])
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
            session_sd=between,
            sessions=1 + len(earlier),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "processes": self.processes,
            "sessions": self.sessions,
            "wall": self.wall,
            "instructions": self.instructions,
            "process_sd": self.process_sd,
            "session_sd": self.session_sd,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NoiseFloor:
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
            session_sd=fractions("session_sd", required=False),
            sessions=sessions,
        )
