"""Whether a resumed target run started from the state its uninterrupted run had, piece by
piece (``linreg.engines.target_pieces``): what the stopped run had at its checkpoint and what
the fresh process restored before its first step. The first piece that differs is named, in the
order a resume restores them (step, model, optimizer, scheduler, generators, data position,
history), in the words a user would look for: ``scheduler state: last_epoch 0, expected 20``,
``rng.numpy differs``, ``optimizer state: exp_avg of blocks.0.attn.weight missing``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from linreg.compare.resume import first_piece_difference


def first_differing_piece(restored: Mapping[str, Any], expected: Mapping[str, Any]) -> str | None:
    """The first piece of ``expected`` that ``restored`` lacks or holds otherwise, in words;
    None when every piece is the same (and ``restored`` has none of its own)."""
    return first_piece_difference(restored, expected, _differs)


def _differs(name: str, got: Any, want: Any) -> str:
    if name.startswith("rng."):
        return f"{name} differs (state {got}, expected {want})"
    if name == "data position":
        return (f"data position: pass {got.get('pass')}, batch {got.get('batch')}; expected pass "
                f"{want.get('pass')}, batch {want.get('batch')}")  # fmt: skip
    if name.startswith("history: "):
        return _history(name, got, want)
    if name.startswith("scheduler state: "):
        return f"{name} {_short(got)}, expected {_short(want)}"
    return f"{name}: {_short(got)}, expected {_short(want)}"


def _history(name: str, got: list, want: list) -> str:
    if len(got) != len(want):
        return f"{name}: {len(got)} values, expected {len(want)}"
    index = next(i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
    return f"{name} differs at its value {index} ({got[index]!r}, expected {want[index]!r})"


def _short(value: Any) -> str:
    if isinstance(value, dict) and "values" in value:
        return repr(value["values"])
    if isinstance(value, dict) and "sha256" in value:
        return f"{value['dtype']} tensor {value['sha256']}"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "…"
