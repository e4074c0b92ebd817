"""Human numbers: times in SI units and significant digits instead of fixed decimals, for the
terminal and the report alike (8.0 µs, not 0.000008)."""

from __future__ import annotations

import math

_TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))
_COUNT_UNITS = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, without an exponent in everyday ranges."""
    if value == 0 or not math.isfinite(value):
        return str(value) if not math.isfinite(value) else "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 6 or magnitude <= -5:
        return f"{value:.{digits - 1}e}"
    decimals = max(digits - 1 - magnitude, 0)
    return f"{value:.{decimals}f}"


def seconds(value: float | None, digits: int = 3) -> str:
    """8e-06 → '8.00 µs'; 0.0382 → '38.2 ms'; 2.5 → '2.50 s'."""
    if value is None or not math.isfinite(value):
        return "–"
    for scale, unit in _TIME_UNITS:
        if abs(value) >= scale:
            return f"{significant(value / scale, digits)} {unit}"
    return f"{significant(value / 1e-9, digits)} ns"


def count(value: float | None, digits: int = 3) -> str:
    """596123 → '596 k'; 5.96e7 → '59.6 M'."""
    if value is None or not math.isfinite(value):
        return "–"
    for scale, unit in _COUNT_UNITS:
        if abs(value) >= scale:
            return f"{significant(value / scale, digits)} {unit}"
    return significant(value, digits)


def ratio(value: float | None) -> str:
    """A speed ratio with its direction in the digits: ×1.31, ×0.952."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"×{significant(value, 3)}"


def percent(fraction: float | None) -> str:
    if fraction is None or not math.isfinite(fraction):
        return "–"
    return f"{significant(fraction * 100, 2)} %"
