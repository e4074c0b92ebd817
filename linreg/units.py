"""Numbers as a reader says them, in the terminal and the report alike: significant digits,
SI prefixes (8.0 µs, not 0.000008), and a dash for nothing."""

from __future__ import annotations

import math
from typing import Any

NOTHING = "–"
_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"))


def missing(value: Any) -> bool:
    """None, NaN and pandas' NA alike (a nullable column hands out pd.NA, which has no bool)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN is the one value unequal to itself
    except TypeError:
        return True  # pd.NA: its comparison cannot be made a bool


def sig(value: Any, digits: int = 3) -> str:
    """``digits`` significant digits, without a fixed number of decimals: 0.000123, 1.23e-07."""
    if missing(value):
        return NOTHING
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    return f"{value:.{digits}g}"


def si(value: Any, unit: str, digits: int = 3) -> str:
    """An SI-prefixed quantity: 8.0e-6 s is '8 µs', 5.14e9 B/s is '5.14 GB/s'."""
    if missing(value):
        return NOTHING
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale * 0.9995:  # so that 999.96 µs reads 1 ms, not 1e+03 µs
            return f"{_plain(value / scale, digits)} {prefix}{unit}"
    scale, prefix = _PREFIXES[-1]
    return f"{_plain(value / scale, digits)} {prefix}{unit}"


def _plain(value: float, digits: int) -> str:
    """At least ``digits`` significant digits and never an exponent: 770 rather than 7.7e+02
    (a prefixed value is below 1000, so this keeps at most three integer digits)."""
    whole = len(str(int(abs(value)))) if abs(value) >= 1 else 0
    return f"{value:.{max(digits, whole)}g}"


def seconds(value: Any, digits: int = 3) -> str:
    return si(value, "s", digits)


def data_size(value: Any) -> str:
    """Bytes in decimal units (as the GB/s figures are): 330 MB."""
    return si(value, "B")


def ratio(value: Any) -> str:
    """A time ratio as a factor with three significant digits: ×1.31, ×1.00, ×0.667, ×365."""
    if missing(value):
        return NOTHING
    text = f"{float(value):#.3g}"  # '#' keeps the zeros of 1.00
    return f"×{text.rstrip('.')}" if "e" not in text else f"×{float(value):.3g}"


def integer(value: Any) -> str:
    return NOTHING if missing(value) else f"{int(value):,}"


def count(value: Any) -> str:
    """A count with an SI prefix: 596123 instructions is '596 k'."""
    return si(value, "").rstrip()


def percent(fraction: Any) -> str:
    """Two significant digits, and whole percents where those are more: 3.5 %, 0.25 %, -100 %,
    150 % (never 1e+02 %)."""
    if missing(fraction):
        return NOTHING
    value = float(fraction) * 100
    text = f"{value:.2g}"
    return f"{value:.0f} %" if "e+" in text and math.isfinite(value) else f"{text} %"


MINUS = "\u2212"  # a minus sign, as wide as the plus before a positive change
_LEAST_SHARE = 0.001  # below a tenth of a percent a share says only that it is small


def share(fraction: Any) -> str:
    """A part of a whole change, as a reader says it: −100 %, 45 %, 3.5 %, 0.25 %, <0.1 %;
    whole percents from 10 % up (1,510 % where a part outgrew the whole)."""
    if missing(fraction):
        return NOTHING
    value = float(fraction)
    if not math.isfinite(value):
        return f"{value:g} %"
    size = abs(value) * 100
    if size < _LEAST_SHARE * 100:
        return "0 %" if value == 0 else "<0.1 %"
    text = f"{round(size):,}" if round(size, 1) >= 10 else f"{size:.2g}"
    return f"{MINUS if value < 0 else ''}{text} %"


def signed_count(value: float) -> str:
    """An instruction count with its sign, + included: +11.6 M, −347 k (a minus sign, as the
    share beside it has)."""
    text = count(abs(value))
    return f"+{text}" if value > 0 else f"{MINUS}{text}" if value < 0 else text
