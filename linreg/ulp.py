"""ULP distance: how many representable values of a dtype lie between two numbers."""

from __future__ import annotations

from collections.abc import Sequence

# Integers of each float dtype's width, to reinterpret its bits.
_INT_VIEW = {"float16": "int16", "bfloat16": "int16", "float32": "int32", "float64": "int64"}


def _ordered(values: Sequence[float], dtype: str) -> list[int]:
    """Each value's position on the number line of ``dtype``.

    IEEE floats are sign–magnitude: reinterpreting the bits as an integer orders the positives;
    negatives are mirrored below zero so that −0 and +0 share a position.
    """
    import torch  # here, not at the top: comparing result files must not cost torch's import

    tensor = torch.tensor(list(values), dtype=torch.float64).to(getattr(torch, dtype))
    bits = tensor.view(getattr(torch, _INT_VIEW[dtype])).tolist()
    width = tensor.element_size() * 8
    sign = 1 << (width - 1)
    return [(-(b + sign) if b < 0 else b) for b in bits]


def ulp_distances(a: Sequence[float], b: Sequence[float], dtype: str) -> list[int]:
    """Per-element ULP distance after rounding both sequences to ``dtype``."""
    return [abs(x - y) for x, y in zip(_ordered(a, dtype), _ordered(b, dtype), strict=True)]


def max_ulp(a: Sequence[float], b: Sequence[float], dtype: str) -> int:
    return max(ulp_distances(a, b, dtype), default=0)
