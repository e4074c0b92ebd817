"""The shift between two sides' per-process log times, with a distribution-free interval.

A side is a handful of per-process medians (2 to 16, sometimes 1), with heavy tails, outliers,
bimodal cases and ties from a timer's resolution. A t interval needs none of those to be absent
to be stated, but all of them to be absent to be right; the Hodges–Lehmann shift with its
Mann–Whitney (Moses) interval is exact for any continuous distribution under a shift, which on
the log scale is "the candidate takes r times as long". Two more terms widen it where the data
call for them:

- ties: tied values are a timer's resolution showing; the true values lie within half a step of
  each, so every bound moves out by one step (the smallest gap between distinct values);
- the between-session spread (``session_sd``): two sessions measured at different times sit at
  different levels even for the same code (other tenants, clocks, thermal state). Its difference
  between the sides is normal with variance 2·σ_b²; the confidence is split between the rank
  interval and that term (a union bound), so the interval holds at the stated level. σ_b is
  never known, only estimated from A/A sessions: ``session_sd`` is then the scale of that
  estimate and ``session_df`` its degrees of freedom, and the term takes Student's t quantile
  rather than the normal one (``linreg.compare.session_term`` says why that bound holds).

scipy tests a shift but gives no interval for it, and scipy's exact test does not take ties; the
exact null distribution of U is therefore computed here (a Gaussian binomial coefficient).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@functools.lru_cache(maxsize=512)
def u_cdf(n: int, m: int) -> np.ndarray:
    """P(U <= u) for u = 0 … n·m, U the Mann–Whitney count of one side of n against m under
    no shift (continuous data): the coefficients of the Gaussian binomial [n+m choose n]_q."""
    counts = np.zeros(n * m + 1)
    counts[0] = 1.0
    # Build [m+i choose i]_q for i = 1 … n: multiply by (1 - q^(m+i)), divide by (1 - q^i).
    # After each division the coefficients are a Gaussian binomial's: non-negative.
    for i in range(1, n + 1):
        top = m + i
        if top <= n * m:
            counts[top:] -= counts[:-top].copy()
        for start in range(i):  # dividing by (1 - q^i): a running sum over every i-th term
            counts[start::i] = np.cumsum(counts[start::i])
    cdf = np.cumsum(counts) / counts.sum()
    return np.minimum(cdf, 1.0)


def smallest_p(n: int, m: int) -> float:
    """The smallest two-sided p two sides of n and m processes can give: all of one side beyond
    all of the other, 2 / C(n + m, n). Three against three cannot go below 0.1."""
    if n < 1 or m < 1:
        return 1.0
    return min(1.0, 2 / math.comb(n + m, n))


def _upper_normal_tail(z: np.ndarray | float) -> np.ndarray | float:
    from scipy.special import ndtr

    return ndtr(-np.asarray(z, dtype=float))


def _normal_quantile(p: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(p))


def _upper_tail(x: np.ndarray | float, degrees: float) -> np.ndarray | float:
    """P(X > x) for X normal (infinite ``degrees``) or Student's t with ``degrees``."""
    if math.isinf(degrees):
        return _upper_normal_tail(x)
    from scipy.special import stdtr

    return stdtr(degrees, -np.asarray(x, dtype=float))


def _quantile(p: float, degrees: float) -> float:
    if math.isinf(degrees):
        return _normal_quantile(p)
    from scipy.special import stdtrit

    return float(stdtrit(degrees, p))


@dataclass(frozen=True)
class Shift:
    """The candidate's log times against the reference's: sorted pairwise differences and what
    widens any bound taken from them."""

    differences: np.ndarray  # every log(candidate) - log(reference), sorted
    n: int  # reference processes
    m: int  # candidate processes
    resolution: float  # added to every bound: one timer step where the values tie, else 0
    session_sd: float  # between-session spread of one side's level (log scale), 0 when none
    session_df: float = math.inf  # its degrees of freedom: infinite where it is known exactly

    @classmethod
    def of(
        cls, reference: Sequence[float], candidate: Sequence[float], session_sd: float = 0.0,
        session_df: float = math.inf,
    ) -> Shift:  # fmt: skip
        ref = np.asarray(reference, dtype=float)
        cand = np.asarray(candidate, dtype=float)
        # Logs of ratios rather than differences of logs: scaling every time by a power of two
        # leaves each ratio, and so every verdict, exactly as it was.
        diffs = np.log(cand[:, None] / ref[None, :]).ravel()
        diffs.sort()
        return cls(diffs, len(ref), len(cand), _resolution(np.concatenate([ref, cand])),
                   max(float(session_sd), 0.0), float(session_df))  # fmt: skip

    @functools.cached_property
    def estimate(self) -> float:
        """Hodges–Lehmann: the median of the pairwise differences (log of the ratio)."""
        d, count = self.differences, len(self.differences)  # sorted: the middle, no search
        return float((d[(count - 1) // 2] + d[count // 2]) / 2)

    def _split(self, tail: float) -> tuple[float, float]:
        """A one-sided error budget as (rank part, session part); all to ranks without one."""
        return (tail, 0.0) if self.session_sd == 0 else (tail / 2, tail / 2)

    def _margin(self, session_tail: float) -> float:
        if self.session_sd == 0 or session_tail <= 0:
            return self.resolution
        quantile = _quantile(1 - session_tail, self.session_df)
        return self.resolution + quantile * math.sqrt(2) * self.session_sd

    def margin_alone(self, alpha: float) -> float:
        """How far the resolution and session terms alone move a bound at confidence 1 - alpha:
        what no number of processes can shrink."""
        return self._margin(self._split(alpha / 2)[1])

    def lower_bound(self, tail: float) -> float:
        """A lower confidence bound on the log shift that is wrong with probability <= tail."""
        rank_tail, session_tail = self._split(tail)
        cdf = u_cdf(self.n, self.m)
        k = int(cdf.searchsorted(rank_tail, side="right"))  # cdf[k-1] <= rank_tail
        if k < 1:
            return -math.inf
        return float(self.differences[k - 1]) - self._margin(session_tail)

    @functools.cached_property
    def _mirrored(self) -> Shift:
        """The reference's log times against the candidate's: the other side's bounds."""
        return Shift(-self.differences[::-1], self.m, self.n, self.resolution, self.session_sd,
                     self.session_df)  # fmt: skip

    def upper_bound(self, tail: float) -> float:
        return -self._mirrored.lower_bound(tail)

    def interval(self, level: float) -> tuple[float, float]:
        """A two-sided interval on the log shift with confidence ``level``."""
        tail = (1 - level) / 2
        return self.lower_bound(tail), self.upper_bound(tail)

    def p_above(self, bound: float) -> float:
        """One-sided p of "the shift exceeds ``bound``": the smallest tail at which the lower
        bound clears it (ties counted against the claim)."""
        cdf = u_cdf(self.n, self.m)
        moved = self.differences - self.resolution
        if self.session_sd == 0:
            at_or_below = int(moved.searchsorted(bound, side="right"))
            if at_or_below >= len(moved):
                return 1.0
            return float(cdf[at_or_below])
        # Each k: the rank part needs cdf[k-1], the session part what d_(k) - bound leaves;
        # both halves of the budget must hold: tail_k = 2·max(rank, session).
        clear = moved > bound
        if not clear.any():
            return 1.0
        ks = np.nonzero(clear)[0]
        session = _upper_tail((moved[ks] - bound) / (math.sqrt(2) * self.session_sd),
                              self.session_df)  # fmt: skip
        tails = 2 * np.maximum(cdf[ks], session)
        return float(min(1.0, tails.min()))

    def p_below(self, bound: float) -> float:
        """One-sided p of "the shift is below ``bound``"."""
        return self._mirrored.p_above(-bound)


def _resolution(values: np.ndarray) -> float:
    """One step of the timer, on the log scale, where the values tie (the smallest ratio
    between distinct values); 0 without ties (nothing says the values were rounded); infinite
    where every value is the same (no step can be told)."""
    ordered = np.sort(values)
    repeated = ordered[1:] == ordered[:-1]
    if not repeated.any():
        return 0.0
    distinct = ordered[np.concatenate([[True], ~repeated])]
    if len(distinct) < 2:
        return math.inf
    return float(np.log(distinct[1:] / distinct[:-1]).min())
