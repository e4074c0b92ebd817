"""Steps in one series: where its level changed and stayed changed.

Pure numerics over one series of positive values in time order (one value per session), on a
log scale because times and counts change by ratios. The levels come from ruptures' PELT:
penalised least squares with a pruned search, in ruptures' C implementation (reached through
``KernelCPD(kernel="linear")``; its pure-Python ``Pelt`` takes seconds for a thousand points).
asv's ``step_detect.py`` fits the same piecewise-constant model with an L1 cost. The penalty is
tied to the noise: a split must stand at least four standard errors out of it, more on a long
series (more places for chance) and on a short one (a noise estimate of few degrees of freedom,
as Student's t). The noise is estimated *within* the levels, never across a step:

- a first guess from neighbouring differences with the largest one left out (a single step is
  one large difference: leaving it out keeps a short history's step out of its own noise);
- then, until the levels settle, from the values' spread about the levels they were fitted;
- never below the spread between the processes of one session, where the caller gives it.

A session that holds a level alone beyond both its neighbours' levels is an outlier, not a step
(the series went there and came back): it is set aside and the series refitted. The newest
session may hold a level alone (it is what a user asks about), and so may the first, whose
level the series left for good. Neighbouring levels closer than
``max(threshold, MIN_STEP)`` are merged; what remains are the steps, oldest first, all of them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Below this relative change a level shift is not reported whatever the threshold.
MIN_STEP = 0.02
# How rarely a flat series may show a step: the chance is shared among its n - 1 places
# (Bonferroni), and a noise estimate of few degrees of freedom raises the bar as Student's t does.
ALPHA = 0.01
# Whatever the count, a split stands at least this many standard errors out of the noise.
MIN_Z = 4.0
# The relative noise assumed where a series has none (identical instruction counts): below it
# nothing is noise, and the step size alone decides.
NOISE_FLOOR = 1e-6
# Refits before the noise estimate and the outliers are taken as they stand.
MAX_REFITS = 8


@dataclass(frozen=True)
class LevelStep:
    """One step: the series' level from ``index`` on differs from the level before it."""

    index: int  # the first value at the new level
    ratio: float  # after / before
    before: float  # the level before (geometric mean of its values, outliers set aside)
    after: float  # the level from ``index`` up to the next step
    z: float  # the shift in standard errors of the two levels' difference
    noise: float  # the series' relative noise per value that the step stood out of


def find_steps(
    values: Sequence[float] | np.ndarray,
    spread: Sequence[float | None] | np.ndarray | None = None,
    threshold: float = 0.0,
) -> list[LevelStep]:
    """The steps of ``values`` (positive, oldest first), oldest step first.

    ``spread``: each value's own relative standard error where known (from the processes of its
    session), ``None`` or NaN where not; the series' noise is never taken below their median.
    A step smaller than ``max(threshold, MIN_STEP)``, or not standing out of the noise, is not
    reported."""
    y = np.asarray(values, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"values: one series expected, got shape {y.shape}")
    if not np.all(np.isfinite(y) & (y > 0)):
        raise ValueError("values: every value must be finite and positive (times, counts)")
    floor = _spread_floor(spread, len(y))
    if len(y) < 2:
        return []
    logs = np.log(y)
    bar = math.log1p(max(threshold, MIN_STEP))
    kept = np.arange(len(y))
    for _ in range(MAX_REFITS):
        fit = _fit(logs[kept], floor)
        alone = _outliers(logs[kept], fit.starts)
        if not alone.size:
            break
        kept = np.delete(kept, alone)
    else:
        fit = _fit(logs[kept], floor)
    if fit.noise is None:
        return []
    z_needed = _z_needed(len(kept), fit.freedom)
    starts = _merge(logs[kept], fit.starts, fit.noise, bar, z_needed)
    return _steps(logs[kept], kept, starts, fit.noise)


def _spread_floor(spread, n: int) -> float:
    if spread is None:
        return 0.0
    given = np.array([np.nan if s is None else s for s in spread], dtype=float)
    if given.shape != (n,):
        raise ValueError(f"spread: one per value expected ({n}), got {given.shape}")
    known = given[np.isfinite(given)]
    if np.any(known < 0):
        raise ValueError("spread: a standard error is never negative")
    return float(np.median(known)) if known.size else 0.0


@functools.lru_cache(maxsize=4096)
def _z_needed(n: int, freedom: float) -> float:
    """Standard errors a split must stand out by, in a series of ``n`` values whose noise
    estimate has ``freedom`` degrees of freedom (``inf``: known from the processes)."""
    from scipy.stats import norm, t  # scipy comes with ruptures

    tail = ALPHA / (2 * max(n - 1, 1))
    quantile = norm.isf(tail) if math.isinf(freedom) else t.isf(tail, freedom)
    return max(MIN_Z, float(quantile))


def _first_guess(logs: np.ndarray) -> float | None:
    """The noise from neighbouring differences, the largest left out (robust MAD scale)."""
    diffs = np.sort(np.abs(np.diff(logs)))[:-1]
    if not diffs.size:
        return None
    return float(1.4826 * np.median(diffs) / math.sqrt(2))


@dataclass(frozen=True)
class _Fit:
    starts: np.ndarray  # where each level starts, 0 first
    noise: float | None  # None: neither the series nor the caller tells the noise
    freedom: float  # the noise estimate's degrees of freedom


def _fit(logs: np.ndarray, floor: float) -> _Fit:
    """Levels by PELT, refitted with the noise they leave within them until they settle."""
    n = len(logs)
    guess = _first_guess(logs)
    if guess is None and floor <= 0:  # two sessions of one process each
        return _Fit(np.zeros(1, dtype=int), None, math.inf)
    # Where the processes tell the noise, it is known (as a z-test takes it) and the series can
    # only raise it; otherwise the series' own estimate counts its degrees of freedom.
    known = floor > 0
    noise = max(guess or 0.0, floor, NOISE_FLOOR)
    freedom = math.inf if known else float(max(n - 2, 1))
    previous = None
    for _ in range(MAX_REFITS):
        starts = _pelt(logs, noise, _z_needed(n, freedom) ** 2)
        within, dof = _within_noise(logs, starts)
        if within is None:
            refined = noise
        else:
            refined = max(within, floor, NOISE_FLOOR)
            freedom = math.inf if known else dof
        settled = math.isclose(refined, noise, rel_tol=1e-6) or (
            previous is not None and np.array_equal(starts, previous)
        )
        previous, noise = starts, refined
        if settled:
            break
    return _Fit(starts, noise, freedom)


def _pelt(logs: np.ndarray, noise: float, penalty: float) -> np.ndarray:
    """Level starts by PELT on the standardised series (penalty in noise variances)."""
    import ruptures  # imports scipy: only where a history is read

    if len(logs) < 2:
        return np.zeros(1, dtype=int)
    # Centred and scaled: the C code sums squares, and log(1e9 instructions) squared over ten
    # thousand sessions would leave little precision for differences of a 1e-6 noise.
    signal = (logs - np.median(logs)) / noise
    ends = ruptures.KernelCPD(kernel="linear", min_size=1, jump=1).fit(signal).predict(pen=penalty)
    return np.array([0, *ends[:-1]], dtype=int)


def _within_noise(logs: np.ndarray, starts: np.ndarray) -> tuple[float | None, float]:
    """The pooled standard deviation of the values about their levels' means, and its degrees
    of freedom (values less levels: exact for a short history, where they count most)."""
    sizes = np.diff([*starts, len(logs)])
    means = np.add.reduceat(logs, starts) / sizes
    residuals = logs - np.repeat(means, sizes)
    freedom = len(logs) - len(starts)
    if freedom == 0:
        return None, 0.0
    return float(math.sqrt(np.sum(residuals**2) / freedom)), float(freedom)


def _outliers(logs: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Positions of values that hold a level alone and lie beyond both neighbouring levels on
    the same side: the series went there and came back. (A value between its neighbours is a
    session caught in a step: it stays, and merges into a side it differs little from.)"""
    sizes = np.diff([*starts, len(logs)])
    means = np.add.reduceat(logs, starts) / sizes
    inner = np.flatnonzero(sizes[1:-1] == 1) + 1
    beyond = (means[inner] - means[inner - 1]) * (means[inner] - means[inner + 1]) > 0
    return starts[inner[beyond]]


def _merge(
    logs: np.ndarray, starts: np.ndarray, noise: float, bar: float, z_needed: float
) -> np.ndarray:
    """Merge neighbouring levels closer than ``bar`` or than ``z_needed`` standard errors,
    closest first: each pass merges every pair that is closer than both of its neighbours."""
    while len(starts) > 1:
        sizes = np.diff([*starts, len(logs)])
        means = np.add.reduceat(logs, starts) / sizes
        shifts = np.abs(np.diff(means))
        z = shifts / (noise * np.sqrt(1 / sizes[:-1] + 1 / sizes[1:]))
        weak = (shifts < bar) | (z < z_needed)
        if not weak.any():
            break
        rank = np.where(weak, shifts, np.inf)
        left = np.concatenate([[np.inf], rank[:-1]])
        right = np.concatenate([rank[1:], [np.inf]])
        chosen = weak & (rank <= left) & (rank < right)
        # The boundary between pair k's two levels is starts[k + 1].
        starts = np.delete(starts, np.flatnonzero(chosen) + 1)
    return starts


def _steps(logs: np.ndarray, kept: np.ndarray, starts: np.ndarray, noise: float) -> list[LevelStep]:
    sizes = np.diff([*starts, len(logs)])
    means = np.add.reduceat(logs, starts) / sizes
    steps = []
    for k in range(1, len(starts)):
        shift = means[k] - means[k - 1]
        error = noise * math.sqrt(1 / sizes[k - 1] + 1 / sizes[k])
        steps.append(
            LevelStep(
                index=int(kept[starts[k]]),
                ratio=math.exp(shift),
                before=math.exp(means[k - 1]),
                after=math.exp(means[k]),
                z=float(abs(shift) / error),
                noise=noise,
            )
        )
    return steps
