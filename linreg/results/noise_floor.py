"""A machine's noise floor: each case's process-to-process spread from A/A processes.

Measured from the processes of one session of unchanged code (`linreg bench --processes 8`),
stored beside that machine's results, and required to be exceeded (as well as the threshold)
before a comparison on that machine calls a case slower.
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


@dataclass(frozen=True)
class NoiseFloor:
    """Each case's process-to-process spread on one machine, from A/A processes (same code)."""

    machine: str | None
    processes: int
    wall: dict[str, float] = field(default_factory=dict)
    instructions: dict[str, float] = field(default_factory=dict)

    @classmethod
    def measure(cls, machine: str | None, samples: Mapping[str, CaseSamples]) -> NoiseFloor:
        processes = max((len(s.wall) for s in samples.values()), default=0)
        return cls(
            machine=machine,
            processes=processes,
            wall={c: spread(s.wall) for c, s in samples.items() if len(s.wall) >= 2},
            instructions={
                c: spread(s.instructions) for c, s in samples.items() if len(s.instructions) >= 2
            },
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "processes": self.processes,
            "wall": self.wall,
            "instructions": self.instructions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NoiseFloor:
        def fractions(key: str) -> dict[str, float]:
            values = data[key]
            if not isinstance(values, dict) or not all(
                isinstance(v, (int, float)) and v >= 0 for v in values.values()
            ):
                raise ValueError(f"{key} must map cases to spreads >= 0")
            return {str(k): float(v) for k, v in values.items()}

        return cls(
            machine=data["machine"],
            processes=int(data["processes"]),
            wall=fractions("wall"),
            instructions=fractions("instructions"),
        )
