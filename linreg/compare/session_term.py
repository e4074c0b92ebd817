"""The between-session term of a wall-time comparison: none, bounded, or unknown.

Two sessions measured apart in time sit at different levels even for the same code (other
tenants, clocks, thermal state): the difference D of the sides' levels is normal with variance
2·σ_b², and no number of processes averages it away. σ_b is never known. It is estimated from k
A/A sessions of the same code on the machine (``linreg bench --processes 8``, run k times), and
from two or three sessions the point estimate s_b is often far below σ_b, or 0: put in σ_b's
place it lets a comparison call the same code "slower" many times more often than alpha.

The bound used instead is a t-type one. S² = MS_between/n₀, the spread of one A/A session's
mean level, is (σ_b² + σ_w²/n₀)·χ²_{k−1}/(k − 1) (σ_w the process spread) and independent of
the sessions compared; D/(√2·σ_b) is standard normal. So |D|/(√2·S) is at most a Student t with
k − 1 degrees of freedom, and D lies within t_{k−1}(1 − ε)·√2·S with probability at least
1 − 2ε whatever S came out as. A floored s_b of 0 still leaves S above 0 (the process part);
two A/A sessions give t₁ (127 at the 99 % interval's share), which decides only changes of
many times the spread, three give t₂ (14.1), five t₄ (5.6), ten t₉ (3.7). Where the reference
is itself one of the A/A sessions, D and S move together and the bound holds with room to spare
(simulated: at most the stated rate).

Sides whose processes alternated in time (an A/B, ``linreg ab``) share the machine's drift: no
term. Sides that ran apart on a machine with no between-session spread measured for the case
have an unknown term: the wall-time case is undecided, never judged without it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from linreg.results.noise_floor import NoiseFloor

NONE, BOUNDED, UNKNOWN = "interleaved", "bounded", "unknown"


@dataclass(frozen=True)
class SessionTerm:
    """What a wall-time case adds for the sessions it compares."""

    kind: str  # NONE, BOUNDED or UNKNOWN
    scale: float = 0.0  # S = √(MS_between/n₀) of log times, where BOUNDED
    degrees: float = math.inf  # of S: the A/A sessions less one
    estimate: float | None = None  # the point estimate s_b, shown beside the verdict
    sessions: int = 0  # A/A sessions it came from

    @property
    def known(self) -> bool:
        return self.kind != UNKNOWN


INTERLEAVED_TERM = SessionTerm(NONE)


def session_term(noise: NoiseFloor | None, case: str, interleaved: bool) -> SessionTerm:
    """The term for ``case``: none where the sides' processes alternated, the bound from the
    machine's A/A sessions where it holds them for the case, else unknown."""
    if interleaved:
        return INTERLEAVED_TERM
    spread = None if noise is None else noise.between_sessions.get(case)
    if spread is None:
        return SessionTerm(UNKNOWN)
    return SessionTerm(BOUNDED, spread.level_sd, float(spread.degrees), spread.sd,
                       spread.sessions)  # fmt: skip


def unknown_reason() -> str:
    """Why a case whose sessions ran apart without a measured spread is undecided, and what
    would decide it."""
    return (
        "the sides ran apart and this machine's between-session spread is not measured: "
        "linreg bench --processes 8 run in several sessions of the same code measures it "
        "(the more sessions, the tighter its bound), or linreg ab runs the sides interleaved"
    )


def too_wide_reason(term: SessionTerm) -> str:
    """Why a case whose between-session bound alone spans the threshold is undecided."""
    return (
        f"the between-session bound from {term.sessions} A/A sessions alone spans the "
        "threshold: more sessions of linreg bench --processes 8 narrow it, or linreg ab runs "
        "the sides interleaved"
    )


def parse_time(text: object) -> dt.datetime | None:
    """pytest-benchmark's ISO time as an aware datetime (naive: UTC); None where unreadable."""
    if not isinstance(text, str) or not text:
        return None
    raw = text.strip()
    if raw.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not take the suffix
        raw = raw[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.timezone.utc)


def alternate(reference: Sequence[object], candidate: Sequence[object]) -> bool:
    """Did the two sides' processes alternate in time? Each side gives one time per process
    (pytest-benchmark's ``datetime``, compared as aware datetimes). Ordered by time, every
    process must have a process of the other side just before or just after it: A B A B …, or
    a run of two where one process is missing. Overlapping spans are not enough (eight processes
    of one side, then eight of the other overlapping the last of them, ran apart), a time either
    side lacks leaves it unknown, and a time both sides share leaves their order unknown: not
    alternating, in each case."""
    ref = [parse_time(t) for t in reference]
    cand = [parse_time(t) for t in candidate]
    if not ref or not cand or None in ref or None in cand:
        return False
    if set(ref) & set(cand):
        return False
    order = [side for _, side in sorted([(t, 0) for t in ref] + [(t, 1) for t in cand])]
    for i, side in enumerate(order):
        neighbours = order[max(i - 1, 0) : i] + order[i + 1 : i + 2]
        if 1 - side not in neighbours:
            return False
    return True
