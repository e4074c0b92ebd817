"""Every list-valued option, parsed once with one syntax for every command.

- choices: ``--dtypes float32,float64``;
- integers: ``--seeds 0,1,42``, ranges ``--seeds 0:100`` (stop exclusive) and mixes ``0:10,42``;
  ``--sizes 40,1e3,1e7`` (exponents for sizes);
- thread counts: ``--threads 1,2,all`` (``all``: torch's own default);
- switches: ``--tf32 off,on``;
- numbers: ``--lrs 0.001,0.01``; fractions in [0, 1): ``--momentums 0,0.9``.
Lists are de-duplicated in order; an empty item is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from linreg.errors import ConfigError

# A list option beyond this many items is a typo (an extra digit in a range), not a plan.
DEFAULT_MAX_ITEMS = 1_000_000


def split_items(field: str, text: str) -> list[str]:
    """The items of a comma list, de-duplicated in order; an empty item is refused."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise ConfigError(field, f"empty item in {text!r}; give a comma-separated list")
    return list(dict.fromkeys(items))


def parse_choices(
    field: str, text: str | None, allowed: tuple[str, ...], default: tuple[str, ...]
) -> tuple[str, ...]:
    if text is None:
        return default
    items = split_items(field, text)
    for item in items:
        if item not in allowed:
            raise ConfigError(field, f"unknown {item!r}; choose from {', '.join(allowed)}")
    return tuple(items)


def _integer(field: str, item: str) -> int:
    try:
        if "e" in item.lower():
            value = float(item)
            if not value.is_integer():
                raise ValueError
            return int(value)
        return int(item)
    except (ValueError, OverflowError):
        raise ConfigError(field, f"{item!r} is not an integer") from None


def parse_integers(
    field: str,
    text: str | None,
    minimum: int,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> tuple[int, ...]:
    """Integers and ``start:stop`` ranges (stop exclusive), none below ``minimum``; () for None."""
    if text is None:
        return ()
    values: list[int] = []
    for item in split_items(field, text):
        if ":" in item:
            start_text, _, stop_text = item.partition(":")
            start, stop = _integer(field, start_text.strip()), _integer(field, stop_text.strip())
            if stop <= start:
                raise ConfigError(field, f"range {item!r} is empty (stop must be > start)")
            if stop - start > max_items:
                raise ConfigError(field, f"{item!r} is more than {max_items} items")
            chunk = range(start, stop)
        else:
            value = _integer(field, item)
            chunk = range(value, value + 1)
        if chunk.start < minimum:
            raise ConfigError(field, f"{item!r} must be >= {minimum}")
        values.extend(chunk)
        if len(values) > max_items:
            raise ConfigError(field, f"{text!r} is more than {max_items} items")
    return tuple(dict.fromkeys(values))


def parse_threads(field: str, text: str) -> tuple[int | None, ...]:
    """Thread counts >= 1 and ``all`` (None: torch's own default)."""
    out: list[int | None] = []
    for item in split_items(field, text):
        if item == "all":
            out.append(None)
            continue
        try:
            value = int(item)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(field, f"expected integers >= 1 or 'all', got {item!r}")
        out.append(value)
    return tuple(out)


SWITCHES = {"off": False, "on": True}


def parse_switches(field: str, text: str) -> tuple[bool, ...]:
    """``off``/``on`` items as booleans, in the order given."""
    return tuple(SWITCHES[item] for item in parse_choices(field, text, tuple(SWITCHES), ()))


def _numbers(field: str, text: str, valid: Callable[[float], bool], wanted: str) -> list[float]:
    values = []
    for item in split_items(field, text):
        try:
            value = float(item)
        except ValueError:
            raise ConfigError(field, f"{item!r} is not a number") from None
        if not (math.isfinite(value) and valid(value)):
            raise ConfigError(field, f"every value must be {wanted}, got {item!r}")
        values.append(value)
    return values


def parse_positive_numbers(field: str, text: str) -> tuple[float, ...]:
    """Finite numbers > 0 (learning rates)."""
    return tuple(_numbers(field, text, lambda v: v > 0, "a finite number > 0"))


def optimizer_settings(
    optimizers: tuple[str, ...], momentums: tuple[float, ...]
) -> list[tuple[str, float]]:
    """(optimizer, momentum) pairs: each optimizer at each momentum, except adam, which runs
    once, at momentum 0 (momentum is SGD's)."""
    pairs = [
        (optimizer, momentum if optimizer == "sgd" else 0.0)
        for optimizer in optimizers
        for momentum in momentums
    ]
    return list(dict.fromkeys(pairs))


def parse_fractions(field: str, text: str) -> tuple[float, ...]:
    """Numbers in [0, 1) (momentums), each once."""
    return tuple(dict.fromkeys(_numbers(field, text, lambda v: 0 <= v < 1, "in [0, 1)")))


def parse_threshold(field: str, text: str) -> float:
    """'10%' or '0.1' → 0.1. A bare number of 1 or more ('5') is refused: 5 % or 500 %?"""
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1]) / 100 if percent else float(raw)
    except ValueError:
        raise ConfigError(
            field, f"expected a percentage such as 10% or a fraction such as 0.1, got {text!r}"
        ) from None
    if not percent and value >= 1:
        raise ConfigError(
            field, f"{text!r} is ambiguous: write {raw}% or {value / 100:g} for {raw} %"
        )
    if not (math.isfinite(value) and 0 <= value < 10):
        raise ConfigError(field, f"expected a threshold between 0% and 1000%, got {text!r}")
    return value
