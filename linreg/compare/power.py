"""How many processes a side would decide a wall-time case: the simulated power table.

`tests/test_verdict_simulation.py` judges thousands of simulated comparisons with the rule in
``linreg.compare.speed`` and writes, for each true change and process-to-process spread, the
fewest processes a side at which the rule decides correctly (slower beyond the threshold, or no
change within it) in at least ``power`` of them; the README shows the same table.

The rule works on log times and compares them with log(1 + threshold), so a change and a spread
measured in units of that threshold decide alike at any threshold: the table, made at one
threshold, answers for all of them.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from linreg.json_types import JsonObject

TABLE_PATH = Path(__file__).with_name("power_table.json")


@dataclass(frozen=True)
class PowerTable:
    threshold: float  # the wall-time threshold the table was simulated at (fraction)
    alpha: float
    power: float  # the share of simulated comparisons that must decide correctly
    changes: tuple[float, ...]  # true ratios, candidate over reference
    spreads: tuple[float, ...]  # process-to-process standard deviation of log time
    processes: tuple[tuple[int | None, ...], ...]  # [spread][change]; None: more than tried
    tried: tuple[int, ...]  # the process counts a side that were simulated

    @classmethod
    def from_dict(cls, data: JsonObject) -> PowerTable:
        return cls(
            threshold=float(data["threshold"]),
            alpha=float(data["alpha"]),
            power=float(data["power"]),
            changes=tuple(float(c) for c in data["changes"]),
            spreads=tuple(float(s) for s in data["spreads"]),
            processes=tuple(tuple(row) for row in data["processes"]),
            tried=tuple(int(n) for n in data["tried"]),
        )

    def to_dict(self) -> JsonObject:
        return {
            "threshold": self.threshold,
            "alpha": self.alpha,
            "power": self.power,
            "changes": list(self.changes),
            "spreads": list(self.spreads),
            "processes": [list(row) for row in self.processes],
            "tried": list(self.tried),
        }

    def needed(self, log_ratio: float, spread: float, threshold: float) -> int | None:
        """Processes a side that decide a case whose estimated change is ``log_ratio`` at a
        process spread of ``spread``, judged at ``threshold``; None when the table holds no
        cell as hard as this one (the change too near the threshold, or the spread too wide).

        Rounded towards the harder cell: a change nearer the threshold, a wider spread."""
        if threshold <= 0 or not math.isfinite(log_ratio) or not math.isfinite(spread):
            return None
        # The same distance from the threshold, in the table's units.
        scale = math.log1p(self.threshold) / math.log1p(threshold)
        change = abs(log_ratio) * scale
        bound = math.log1p(self.threshold)
        columns = [(i, math.log(c)) for i, c in enumerate(self.changes)]
        if change > bound:
            harder = [(c, i) for i, c in columns if bound < c <= change]
            column = max(harder)[1] if harder else None
        else:
            harder = [(c, i) for i, c in columns if change <= c < bound]
            column = min(harder)[1] if harder else None
        rows = [i for i, s in enumerate(self.spreads) if s >= spread * scale]
        if column is None or not rows:
            return None
        return self.processes[rows[0]][column]


@functools.lru_cache(maxsize=1)
def power_table() -> PowerTable | None:
    """The committed table, or None where it is missing (an install without package data)."""
    try:
        return PowerTable.from_dict(json.loads(TABLE_PATH.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
