"""Timing comparison: is the candidate slower than the reference, significantly and by more
than a threshold?"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from linreg.errors import ConfigError

DEFAULT_ALPHA = 0.01


@dataclass(frozen=True)
class TimingComparison:
    """The candidate's rounds against the reference's: median ratio (candidate / reference),
    two-sided Mann–Whitney U p-value, verdict."""

    case: str
    reference_rounds: int
    candidate_rounds: int
    reference_median: float
    candidate_median: float
    ratio: float
    p_value: float | None
    significant: bool
    verdict: str  # "faster", "slower", "no significant change" or "undecided (N samples)"

    def is_regression(self, threshold: float) -> bool:
        """A regression is a significant slowdown larger than ``threshold`` (0.10 = 10%)."""
        return self.verdict == "slower" and self.ratio > 1 + threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "reference_rounds": self.reference_rounds,
            "candidate_rounds": self.candidate_rounds,
            "reference_median_seconds": self.reference_median,
            "candidate_median_seconds": self.candidate_median,
            "ratio": self.ratio,
            "p_value": self.p_value,
            "verdict": self.verdict,
        }


def check_alpha(alpha: float) -> None:
    if not (math.isfinite(alpha) and 0 < alpha < 1):
        raise ConfigError("alpha", f"must be in (0, 1), got {alpha!r}")


def compare_timings(
    case: str,
    reference: Sequence[float],
    candidate: Sequence[float],
    alpha: float = DEFAULT_ALPHA,
) -> TimingComparison:
    """Rank test over the raw rounds: robust to the outliers that shared machines produce."""
    check_alpha(alpha)
    ref_median, cand_median = statistics.median(reference), statistics.median(candidate)
    ratio = cand_median / ref_median if ref_median > 0 else math.inf
    if len(reference) < 2 or len(candidate) < 2:
        samples = min(len(reference), len(candidate))
        return TimingComparison(case, len(reference), len(candidate), ref_median, cand_median,
                                ratio, None, False, f"undecided ({samples} samples)")  # fmt: skip
    # scipy is imported here, not at the top: the CLI must load where only timings need it.
    from scipy.stats import mannwhitneyu

    p_value = float(mannwhitneyu(reference, candidate, alternative="two-sided").pvalue)
    significant = p_value < alpha
    if not significant:
        verdict = "no significant change"
    else:
        verdict = "slower" if cand_median > ref_median else "faster"
    return TimingComparison(
        case=case,
        reference_rounds=len(reference),
        candidate_rounds=len(candidate),
        reference_median=ref_median,
        candidate_median=cand_median,
        ratio=ratio,
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
