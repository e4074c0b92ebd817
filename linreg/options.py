"""Comma-separated option values (`--dtypes float32,float64`), parsed once for every command."""

from __future__ import annotations

from linreg.errors import ConfigError


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


def parse_integers(field: str, text: str | None, minimum: int) -> tuple[int, ...]:
    """Integers (1e6 style allowed) no smaller than ``minimum``; () for None."""
    if text is None:
        return ()
    values = []
    for item in split_items(field, text):
        try:
            value = int(float(item)) if "e" in item.lower() else int(item)
        except ValueError:
            raise ConfigError(field, f"{item!r} is not an integer") from None
        if value < minimum:
            raise ConfigError(field, f"{item!r} must be >= {minimum}")
        values.append(value)
    return tuple(values)
