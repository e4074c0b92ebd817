"""ULP distance: how many representable values of a dtype lie between two numbers."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from linreg.numerics import torch_dtype

_INT_VIEW = {
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
    torch.float32: torch.int32,
    torch.float64: torch.int64,
}


def _ordered(values: Sequence[float], dtype: str) -> list[int]:
    """Each value's position on the number line of ``dtype``.

    IEEE floats are sign–magnitude: reinterpreting the bits as an integer orders the positives;
    negatives are mirrored below zero so that −0 and +0 share a position.
    """
    tensor = torch.tensor(list(values), dtype=torch.float64).to(torch_dtype(dtype))
    bits = tensor.view(_INT_VIEW[tensor.dtype]).tolist()
    width = tensor.element_size() * 8
    sign = 1 << (width - 1)
    return [(-(b + sign) if b < 0 else b) for b in bits]


def ulp_distances(a: Sequence[float], b: Sequence[float], dtype: str) -> list[int]:
    """Per-element ULP distance after rounding both sequences to ``dtype``."""
    return [abs(x - y) for x, y in zip(_ordered(a, dtype), _ordered(b, dtype), strict=True)]


def max_ulp(a: Sequence[float], b: Sequence[float], dtype: str) -> int:
    return max(ulp_distances(a, b, dtype), default=0)
