"""One colour per machine (per series of measurements), the same in every figure."""

from __future__ import annotations

from collections.abc import Iterable

# Okabe–Ito, readable by colour-blind readers; red is kept for failures only.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
FAIL, PASS, NEUTRAL = "#c62828", "#1a7f37", "#6b7280"


def series_colors(series: Iterable[str]) -> dict[str, str]:
    """A stable colour for each series, assigned in the order given (baselines first)."""
    names = list(dict.fromkeys(series))
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
