"""Where a case stepped: a machine's benchmark sessions read in time order.

The idea of asv's step detection, kept small: each case's series (one value per session: the
median of its processes' medians, or its instruction count) is fitted, on a log scale, by the
constant levels that minimise the absolute deviation plus a penalty per level; neighbouring
levels that differ by less than the threshold, or than the spread within them, are merged. What
remains are steps: changes that stayed, with the session where each began.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from linreg import units
from linreg.results.bench_file import BenchFile
from linreg.results.bench_sessions import BenchSession, session_samples, sessions

# Below this relative change a level shift is not reported whatever the threshold.
MIN_STEP = 0.02
# The most steps reported per case: more is a noisy series, not a history of changes.
MAX_STEPS = 3
# A level shift must be this many times the spread within the levels (median absolute
# deviation, relative) to count.
SPREAD_FACTOR = 3.0


@dataclass(frozen=True)
class Step:
    case: str
    metric: str
    session: str  # the first session at the new level
    index: int
    ratio: float  # new level / old level
    before: str
    after: str


@dataclass
class MachineHistory:
    sessions: int
    steps: list[Step] = field(default_factory=list)


def _cost(values: Sequence[float]) -> float:
    middle = statistics.median(values)
    return sum(abs(v - middle) for v in values)


def _relative_mad(values: Sequence[float]) -> float:
    middle = statistics.median(values)
    if len(values) < 2 or middle <= 0:
        return 0.0
    return statistics.median(abs(v / middle - 1) for v in values)


def _segments(logs: Sequence[float], penalty: float) -> list[int]:
    """Start indices of the constant levels that fit ``logs`` best (least absolute deviation
    plus ``penalty`` per level), by dynamic programming over every split."""
    n = len(logs)
    best = [0.0] + [math.inf] * n  # best[j]: cost of logs[:j]
    start = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            cost = best[i] + _cost(logs[i:j]) + penalty
            if cost < best[j]:
                best[j], start[j] = cost, i
    starts, j = [], n
    while j > 0:
        starts.append(start[j])
        j = start[j]
    return sorted(starts)


def find_steps(values: Sequence[float], threshold: float) -> list[tuple[int, float]]:
    """(index of the first value at the new level, new / old level) for each step found."""
    if len(values) < 2 or min(values) <= 0:
        return []
    logs = [math.log(v) for v in values]
    # The series' own noise, from neighbouring sessions: a step must stand out of it.
    noise = (
        1.4826 * statistics.median(abs(b - a) for a, b in itertools.pairwise(logs)) / math.sqrt(2)
    )
    minimum = max(math.log1p(max(threshold, MIN_STEP)), SPREAD_FACTOR * noise)
    starts = _segments(logs, penalty=minimum)
    # Neighbouring levels closer than the threshold, or than the spread within them, are one.
    while True:
        bounds = [*starts, len(values)]
        levels = [values[bounds[k] : bounds[k + 1]] for k in range(len(starts))]
        merge = None
        for k in range(1, len(levels)):
            left, right = levels[k - 1], levels[k]
            spread = max(_relative_mad(left), _relative_mad(right))
            shift = abs(math.log(statistics.median(right) / statistics.median(left)))
            if shift <= max(minimum, math.log1p(SPREAD_FACTOR * spread)):
                merge = k
                break
        if merge is None:
            break
        starts.pop(merge)
    bounds = [*starts, len(values)]
    levels = [statistics.median(values[bounds[k] : bounds[k + 1]]) for k in range(len(starts))]
    steps = [(starts[k], levels[k] / levels[k - 1]) for k in range(1, len(starts))]
    return steps[:MAX_STEPS]


def case_steps(files: Iterable[BenchFile], threshold: float = 0.0) -> dict[str, MachineHistory]:
    """Per machine: every case that stepped, by wall time and by instruction count."""
    by_machine: dict[str, list[BenchSession]] = {}
    for session in sessions(files):
        by_machine.setdefault(session.machine, []).append(session)
    report: dict[str, MachineHistory] = {}
    for machine, series in sorted(by_machine.items()):
        history = MachineHistory(sessions=len(series))
        samples = [session_samples(s) for s in series]
        cases = sorted(set().union(*(set(s) for s in samples)))
        for case in cases:
            for metric, pick, fmt in (
                ("wall", lambda c: c.wall, units.seconds),
                ("instructions", lambda c: c.instructions, units.count),
            ):
                points = [
                    (i, statistics.median(pick(s[case])))
                    for i, s in enumerate(samples)
                    if case in s and pick(s[case])
                ]
                values = [v for _, v in points]
                found = [index for index, _ in find_steps(values, threshold)]
                bounds = [0, *found, len(values)]
                for j, index in enumerate(found):
                    # The levels either side of this step, up to the neighbouring steps.
                    before = statistics.median(values[bounds[j] : index])
                    after = statistics.median(values[index : bounds[j + 2]])
                    history.steps.append(
                        Step(
                            case=case,
                            metric=metric,
                            session=series[points[index][0]].session,
                            index=points[index][0],
                            ratio=after / before,
                            before=fmt(before),
                            after=fmt(after),
                        )
                    )
        report[machine] = history
    return report
