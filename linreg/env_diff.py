"""What differs between two environment fingerprints: "what differs between these machines"."""

from __future__ import annotations

from typing import Any

from linreg.json_types import Fingerprint


def diff_environments(a: Fingerprint, b: Fingerprint) -> dict[str, tuple[Any, Any]]:
    """Keys whose values differ, as (a, b); nested dicts are flattened to 'outer.inner'."""
    flat_a, flat_b = flatten(a), flatten(b)
    return {
        key: (flat_a.get(key), flat_b.get(key))
        for key in sorted(set(flat_a) | set(flat_b))
        if flat_a.get(key) != flat_b.get(key)
    }


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of 'outer.inner' keys."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
