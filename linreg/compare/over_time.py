"""Each case over sessions, as `linreg history` draws it and `linreg compare --all` lists it:
one series per case, metric and key, with its steps, and the steps that begin in a series'
newest sessions (its regressions). Both read the one ``case_series``, so they name the same
steps.

- Wall time is one series per *host*: the same code on two hosts of one CPU model runs at each
  host's own speed, and a host's history is what a step is a change of.
- Instruction counts are one series per *stack* (linreg.stack): they depend on the code that
  runs, not on the host, so every host of a stack adds to one series, as the gate keys its
  baselines. A new torch, Python or CPU capability starts a new series rather than a step.

A session's value is the median of its processes' values, its band the lowest and highest
process, or a single process's rounds' quartiles. Steps come from linreg.compare.steps.find_steps,
each session's own standard error given where it ran several processes.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Callable, Sequence

import numpy as np

from linreg.compare.steps import LevelStep, find_steps
from linreg.results.bench_sessions import CaseSamples
from linreg.results.history import History
from linreg.results.history_series import (
    INSTRUCTIONS,
    METRICS,
    RECENT_SESSIONS,
    WALL,
    Regression,
    Series,
    SeriesStep,
)

# Steps `linreg compare --all` lists per case and metric, newest kept: more is a noisy series,
# not a history of changes, and the newest is the one a reader asks about.
MAX_STEPS = 3
# The standard error of a median of k samples is about this many times that of their mean.
MEDIAN_EFFICIENCY = math.sqrt(math.pi / 2)
# Steps smaller than this are not marked (the instruction gate's threshold; the noise test
# decides the rest, so a noisy wall-time series is not a staircase).
DEFAULT_THRESHOLD = 0.03
# PELT prunes a candidate start only once a later step makes it hopeless, so over a stretch
# without a step it is quadratic (ruptures' C code, a flat series measured here: 4 ms at 1,000
# sessions, 69 ms at 4,000, 0.8 s at 10,000). An instruction series gathers every host of its
# stack: 50 CI runners × 1,000 sessions is 50,000 values. A series longer than WINDOW is read
# in windows of WINDOW sessions, half overlapping, each step taken from the window whose middle
# holds it (so with at least WINDOW / 4 sessions either side): linear in the sessions.
WINDOW = 2000
# Two windows may place one step a session or two apart: the stronger is kept.
SAME_STEP = 3


def session_error(samples: Sequence[float]) -> float | None:
    """The relative standard error of the median of one session's process samples (log
    scale); None for a single process, which tells nothing of the spread."""
    if len(samples) < 2:
        return None
    logs = [math.log(v) for v in samples]
    return MEDIAN_EFFICIENCY * statistics.stdev(logs) / math.sqrt(len(logs))


def case_series(
    history: History,
    threshold: float = DEFAULT_THRESHOLD,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, list[Series]]:
    """Every case's series, instructions first (by stack) then wall time (by host), each with
    its steps of at least ``threshold``."""
    points: dict[tuple[str, str, str], list[tuple[int, CaseSamples]]] = {}
    for index, session in enumerate(history.sessions):
        for case, record in session.cases.items():
            if record.instructions:
                points.setdefault((case, INSTRUCTIONS, session.where.stack), []).append(
                    (index, record)
                )
            if record.wall and min(record.wall) > 0:
                points.setdefault((case, WALL, session.where.host), []).append((index, record))
    found: dict[str, list[Series]] = {}
    keys = sorted(points, key=lambda k: (k[0], METRICS.index(k[1]), k[2]))
    for done, key in enumerate(keys, start=1):
        found.setdefault(key[0], []).append(_series(*key, points[key], threshold))
        if on_progress is not None:
            on_progress(done, len(keys), "finding steps")
    return found


def _series(
    case: str, metric: str, key: str, points: list[tuple[int, CaseSamples]], threshold: float
) -> Series:
    samples = [r.instructions if metric == INSTRUCTIONS else r.wall for _, r in points]
    values = np.array([float(np.median(s)) for s in samples])
    low = np.array([min(s) for s in samples])
    high = np.array([max(s) for s in samples])
    if metric == WALL:
        single = [i for i, s in enumerate(samples) if len(s) == 1]
        for i in single:
            quartiles = points[i][1].quartiles
            if quartiles is not None:
                low[i], high[i] = quartiles
    sessions = np.array([index for index, _ in points], dtype=int)
    errors = [session_error(s) for s in samples]
    steps = tuple(
        SeriesStep(
            position=step.index,
            session=int(sessions[step.index]),
            ratio=step.ratio,
            before=step.before,
            after=step.after,
            z=step.z,
        )
        for step in windowed_steps(values, errors, threshold)
    )
    return Series(case, metric, key, sessions, values, low, high, steps)


def windowed_steps(
    values: np.ndarray,
    errors: Sequence[float | None],
    threshold: float,
    window: int = WINDOW,
) -> list[LevelStep]:
    """find_steps over ``values``, in overlapping windows where the series is longer than
    ``window`` (see WINDOW); the same steps as find_steps where it is not."""
    n = len(values)
    if n < 2:
        return []
    if n <= window:
        return find_steps(values, errors, threshold)
    starts = [*range(0, n - window, window // 2), n - window]
    centres = [a + window / 2 for a in starts]
    bounds = [0, *((c + d) / 2 for c, d in itertools.pairwise(centres)), n]
    found: list[LevelStep] = []
    for number, a in enumerate(starts):
        part = slice(a, a + window)
        for step in find_steps(values[part], errors[part], threshold):
            index = a + step.index
            if bounds[number] <= index < bounds[number + 1]:
                found.append(dataclasses.replace(step, index=index))
    kept: list[LevelStep] = []
    for step in sorted(found, key=lambda s: s.index):
        last = kept[-1] if kept else None
        if last and step.index - last.index <= SAME_STEP and (step.ratio > 1) == (last.ratio > 1):
            if step.z > last.z:
                kept[-1] = step
            continue
        kept.append(step)
    return kept


def regressions(series: Sequence[Series], recent: int = RECENT_SESSIONS) -> list[Regression]:
    """The steps that began in the newest ``recent`` sessions of their series: slower first,
    the largest first among them, then faster ones."""
    found = [Regression(s, step) for s in series for step in s.recent_steps(recent)]
    return sorted(
        found,
        key=lambda r: (not r.step.slower, -abs(math.log(r.step.ratio)), r.series.case),
    )
