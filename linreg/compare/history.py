"""Where a case stepped: a machine's benchmark sessions read in time order.

Each case's series (one value per session: the median of its processes' medians, or of their
instruction counts) goes to `linreg.compare.steps.find_steps`, with each session's own standard
error where it ran several processes. Every step is found; the listing keeps the newest
``MAX_STEPS`` of each case and metric and counts the older ones it leaves out.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from linreg import units
from linreg.compare.steps import find_steps
from linreg.results.bench_file import BenchFile
from linreg.results.bench_sessions import BenchSession, session_samples, sessions

# Steps listed per case and metric, newest kept: more is a noisy series, not a history of
# changes, and the newest is the one a reader asks about.
MAX_STEPS = 3
# The standard error of a median of k samples is about this many times that of their mean.
MEDIAN_EFFICIENCY = math.sqrt(math.pi / 2)


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
    left_out: int = 0  # older steps not listed (beyond MAX_STEPS of one case and metric)


def session_error(samples: Sequence[float]) -> float | None:
    """The relative standard error of the median of one session's process samples (log
    scale); None for a single process, which tells nothing of the spread."""
    if len(samples) < 2:
        return None
    logs = [math.log(v) for v in samples]
    return MEDIAN_EFFICIENCY * statistics.stdev(logs) / math.sqrt(len(logs))


def case_steps(files: Iterable[BenchFile], threshold: float = 0.0) -> dict[str, MachineHistory]:
    """Per machine: every case that stepped, by wall time and by instruction count, oldest step
    first (the newest MAX_STEPS of each case and metric)."""
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
                # Sessions without the case or the metric are skipped, not zero.
                points = [
                    (i, pick(s[case]))
                    for i, s in enumerate(samples)
                    if case in s and pick(s[case]) and min(pick(s[case])) > 0
                ]
                if len(points) < 2:
                    continue
                values = [statistics.median(p) for _, p in points]
                errors = [session_error(p) for _, p in points]
                found = find_steps(values, errors, threshold)
                history.left_out += max(0, len(found) - MAX_STEPS)
                for step in found[-MAX_STEPS:]:
                    index = points[step.index][0]
                    history.steps.append(
                        Step(
                            case=case,
                            metric=metric,
                            session=series[index].session,
                            index=index,
                            ratio=step.ratio,
                            before=fmt(step.before),
                            after=fmt(step.after),
                        )
                    )
        report[machine] = history
    return report
