"""Timing comparison: is B slower than A, significantly and by more than a threshold?"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from linreg.errors import ConfigError

DEFAULT_ALPHA = 0.01


@dataclass(frozen=True)
class TimingComparison:
    """B's rounds against A's: median ratio (B/A), two-sided Mann–Whitney U p-value, verdict."""

    case: str
    rounds_a: int
    rounds_b: int
    median_a: float
    median_b: float
    ratio: float
    p_value: float
    significant: bool
    verdict: str  # "faster", "slower" or "no significant change"

    def is_regression(self, threshold: float) -> bool:
        """A regression is a significant slowdown larger than ``threshold`` (0.10 = 10%)."""
        return self.verdict == "slower" and self.ratio > 1 + threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "rounds_a": self.rounds_a,
            "rounds_b": self.rounds_b,
            "median_a_seconds": self.median_a,
            "median_b_seconds": self.median_b,
            "ratio": self.ratio,
            "p_value": self.p_value,
            "verdict": self.verdict,
        }


def compare_timings(
    case: str, a: Sequence[float], b: Sequence[float], alpha: float = DEFAULT_ALPHA
) -> TimingComparison:
    """Rank test over the raw rounds: robust to the outliers that shared machines produce."""
    if not 0 < alpha < 1:
        raise ConfigError("alpha", f"must be in (0, 1), got {alpha!r}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"{case}: need at least 2 rounds on each side, got {len(a)} and {len(b)}")
    # scipy is imported here, not at the top: the CLI must load where only timings need it.
    from scipy.stats import mannwhitneyu

    median_a, median_b = statistics.median(a), statistics.median(b)
    p_value = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    significant = p_value < alpha
    if not significant:
        verdict = "no significant change"
    else:
        verdict = "slower" if median_b > median_a else "faster"
    return TimingComparison(
        case=case,
        rounds_a=len(a),
        rounds_b=len(b),
        median_a=median_a,
        median_b=median_b,
        ratio=median_b / median_a if median_a > 0 else float("inf"),
        p_value=p_value,
        significant=significant,
        verdict=verdict,
    )


def parse_threshold(text: str) -> float:
    """'10%' or '0.1' → 0.1."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError as exc:
        raise ValueError(f"expected a percentage such as 10% or a fraction, got {text!r}") from exc
    if not 0 <= value < 10:
        raise ValueError(f"expected a threshold between 0% and 1000%, got {text!r}")
    return value
