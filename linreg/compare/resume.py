"""Whether a resumed run started from the state its uninterrupted run had: piece by piece.

Both sides are ``linreg.training_state.pieces``: what the stopped run had at the epoch it was
checkpointed (``expected``, recorded by the process that wrote the checkpoint) and what the
resuming process had restored before its first epoch (``restored``). The first piece that differs
is named, in the order the pieces are listed (epoch, model, optimizer, generators, history), so
that a resume that leaves out a piece of state says which.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def first_missing_piece(restored: Mapping[str, Any], expected: Mapping[str, Any]) -> str | None:
    """The first piece of ``expected`` that ``restored`` lacks or holds otherwise, in words;
    None when every piece is the same (and ``restored`` has none of its own)."""
    return first_piece_difference(
        restored, expected, lambda name, got, want: _differs(name, got, want, expected)
    )


def first_piece_difference(
    restored: Mapping[str, Any],
    expected: Mapping[str, Any],
    describe: Callable[[str, Any, Any], str],
) -> str | None:
    """The first piece, in ``expected``'s order, that differs, said by ``describe`` (each kind
    of training state names its own pieces); a missing or extra piece said here."""
    for name, want in expected.items():
        if name not in restored:
            return f"{name} missing"
        got = restored[name]
        if got != want:
            return describe(name, got, want)
    extra = [name for name in restored if name not in expected]
    if extra:
        return f"{extra[0]} restored, the uninterrupted run had none"
    return None


def _differs(name: str, got: Any, want: Any, expected: Mapping[str, Any]) -> str:
    if name.startswith("optimizer state: step of") and _is_adam(expected):
        parameter = name.removeprefix("optimizer state: step of ")
        counts = f"{_count(got)}, expected {_count(want)}"
        return f"optimizer state: Adam step count {counts} ({parameter})"
    if name.startswith("history: "):
        return _history(name, got, want)
    if name.startswith("random generator: "):
        return f"{name} differs (state {got}, expected {want})"
    return f"{name}: {_short(got)}, expected {_short(want)}"


def _is_adam(expected: Mapping[str, Any]) -> bool:
    groups = expected.get("optimizer: hyperparameters") or [{}]
    return "betas" in groups[0]


def _count(value: Any) -> str:
    if isinstance(value, dict) and len(value.get("values", ())) == 1:
        value = value["values"][0]
    return f"{value:g}" if isinstance(value, (int, float)) else repr(value)


def _history(name: str, got: list[float], want: list[float]) -> str:
    if len(got) != len(want):
        return f"{name}: {len(got)} epochs, expected {len(want)}"
    index = next(i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
    where = f"epoch {index}" if name == "history: train loss" else f"evaluation {index}"
    return f"{name} differs from {where} ({got[index]!r}, expected {want[index]!r})"


def _short(value: Any) -> str:
    if isinstance(value, dict) and "values" in value:
        return repr(value["values"]) if len(value["values"]) <= 4 else f"{value['dtype']} tensor"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "…"
