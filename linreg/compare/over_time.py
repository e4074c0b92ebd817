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
each session's own standard error given where it ran several processes. A jump in a series'
newest sessions beyond every session of its level, too short to stand out of the noise as a
step, is kept as the series' *pending* jump: undecided, never "no step".

A step at the end of a series is a regression only when earned as a speed verdict is
(``regressions``): the sessions before it against the sessions after it, each session one
sample, by the rules of ``linreg.compare.speed`` (wall time: the rank interval wholly beyond the
threshold, false discoveries controlled across the steps judged together; instructions: beyond
the threshold and twice the spread of the sessions before it), and only where something changed
across it (a commit, stack or host after it that none before it ran): the same code on the same
stack and host, slower, is the machine.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Callable, Sequence

import numpy as np

from linreg.compare.speed import DEFAULT_ALPHA, judge_instructions, judge_wall
from linreg.compare.steps import MIN_STEP, LevelStep, find_steps
from linreg.results.bench_sessions import CaseSamples
from linreg.results.history import History
from linreg.results.history_series import (
    INSTRUCTIONS,
    METRICS,
    RECENT_SESSIONS,
    STEP_KINDS,
    WALL,
    Regression,
    Series,
    SeriesStep,
    StepChange,
)
from linreg.results.speed_verdict import CaseVerdict

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
        found.setdefault(key[0], []).append(one_series(*key, points[key], threshold))
        if on_progress is not None:
            on_progress(done, len(keys), "finding steps")
    return found


def one_series(
    case: str, metric: str, key: str, points: list[tuple[int, CaseSamples]], threshold: float
) -> Series:
    """One case's metric over ``points`` (an index into History.sessions, and the session's
    samples), oldest first, with its steps and pending jump."""
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
    pending = pending_jump(values, sessions, steps, threshold)
    return Series(case, metric, key, sessions, values, low, high, steps, pending)


def pending_jump(
    values: np.ndarray,
    sessions: np.ndarray,
    steps: Sequence[SeriesStep],
    threshold: float,
    most: int = RECENT_SESSIONS,
) -> SeriesStep | None:
    """The newest sessions (at most ``most``) of the series' last level that all lie beyond
    every earlier session of that level by more than the threshold, on one side: a jump too
    short for find_steps to tell from noise (40, 40, 120 ms), kept to be judged, not dropped.
    None where there is no such jump (or the level is the jump itself)."""
    start = steps[-1].position if steps else 0
    level = np.log(values[start:])
    n = len(level)
    bar = math.log1p(max(threshold, MIN_STEP))
    found = 0
    for k in range(1, min(most, n - 1) + 1):
        before, tail = level[: n - k], level[n - k :]
        if tail.min() > before.max() + bar or tail.max() < before.min() - bar:
            found = k
    if not found:
        return None
    before, tail = level[: n - found], level[n - found :]
    position = len(values) - found
    return SeriesStep(
        position=position,
        session=int(sessions[position]),
        ratio=math.exp(tail.mean() - before.mean()),
        before=math.exp(before.mean()),
        after=math.exp(tail.mean()),
        z=math.nan,  # it stands out of no noise estimate: that is why it is pending
    )


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


def regressions(
    series: Sequence[Series],
    recent: int = RECENT_SESSIONS,
    history: History | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
) -> list[Regression]:
    """The steps (and pending jumps) that began in the newest ``recent`` sessions of their
    series, each judged (``judge_steps``) with what changed across it where ``history`` is
    given: regressions first, then undecided, speed-ups and noise; slower, then larger, first."""
    found = [(s, step, False) for s in series for step in s.recent_steps(recent)]
    found += [
        (s, s.pending, True)
        for s in series
        if s.pending is not None and s.pending.position >= len(s) - recent
    ]
    return judged_steps(found, history, threshold, alpha)


def judged_steps(
    found: Sequence[tuple[Series, SeriesStep, bool]],
    history: History | None,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
) -> list[Regression]:
    """Each (series, step, pending) judged and sorted as ``regressions`` sorts them."""
    verdicts = judge_steps([(s, step) for s, step, _ in found], threshold, alpha)
    listed = []
    for (one, step, pending), verdict in zip(found, verdicts, strict=True):
        change = None if history is None else step_change(history, one, step)
        listed.append(Regression(one, step, verdict, change, pending))
    return sorted(
        listed,
        key=lambda r: (STEP_KINDS.index(r.kind), not r.step.slower,
                       -abs(math.log(r.step.ratio)), r.series.case),
    )  # fmt: skip


def _sides(series: Series, step: SeriesStep) -> tuple[int, int]:
    """Where the level before ``step`` begins and where the level after it ends: the steps
    next to it, the pending jump, or the series' ends."""
    bounds = sorted({0, len(series), *(s.position for s in series.steps)}
                    | ({series.pending.position} if series.pending else set()))  # fmt: skip
    start = max(b for b in bounds if b < step.position)
    end = min(b for b in bounds if b > step.position)
    return start, end


def judge_steps(
    found: Sequence[tuple[Series, SeriesStep]],
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
) -> list[CaseVerdict]:
    """Each step judged as a speed verdict judges a case, its level's sessions before it
    against those after it, one sample a session (``samples`` counts sessions, and so does
    ``processes_needed``): wall time by ``judge_wall`` (sessions are samples of the level with
    the between-session spread in them, so no further term; Benjamini–Hochberg across the wall
    steps judged together), instruction counts by ``judge_instructions``. At the threshold steps
    are marked from (MIN_STEP at least)."""
    bar = max(threshold, MIN_STEP)
    verdicts: dict[int, CaseVerdict] = {}
    reference: dict[str, CaseSamples] = {}
    candidate: dict[str, CaseSamples] = {}
    for index, (one, step) in enumerate(found):
        start, end = _sides(one, step)
        before = tuple(float(v) for v in one.values[start : step.position])
        after = tuple(float(v) for v in one.values[step.position : end])
        key = str(index)
        if one.metric == INSTRUCTIONS:
            [verdict] = judge_instructions(
                {key: CaseSamples(key, (), before)}, {key: CaseSamples(key, (), after)}, bar
            )
            verdicts[index] = dataclasses.replace(verdict, case=one.case)
        else:
            reference[key] = CaseSamples(key, before, ())
            candidate[key] = CaseSamples(key, after, ())
    if reference:
        for verdict in judge_wall(reference, candidate, bar, alpha, interleaved=True, units=False):
            index = int(verdict.case)
            verdicts[index] = dataclasses.replace(verdict, case=found[index][0].case)
    return [verdicts[index] for index in range(len(found))]


def step_change(history: History, series: Series, step: SeriesStep) -> StepChange:
    """What differs across ``step`` between the sessions of its two levels."""
    start, end = _sides(series, step)
    before = [history.sessions[int(i)].where for i in series.sessions[start : step.position]]
    after = [history.sessions[int(i)].where for i in series.sessions[step.position : end]]
    commits = ({w.commit for w in before}, {w.commit for w in after})
    return StepChange(
        commit=bool(commits[1] - commits[0]),
        stack=bool({w.stack for w in after} - {w.stack for w in before}),
        host=bool({w.host for w in after} - {w.host for w in before}),
        commit_known=None not in commits[0] | commits[1],
        boundary=(before[-1].commit, after[0].commit),
        stacks=(before[-1].stack, after[0].stack),
        hosts=(before[-1].host, after[0].host),
    )
