"""Where two replayed runs of a target part: walking the steps and, within a step, the
quantities in the order the step computes them (the loss, each gradient in the model's order,
each parameter and buffer after the step), the first that differs is named by module path.

Two runs of one dtype part at a step, in one quantity: the first whose bits differ, with its ULP
distance and its largest absolute difference. Two runs of two dtypes differ from the first step
by rounding alone; for them the first quantity beyond the candidate dtype's elementwise
tolerance of the reference is named (``|c - r| > atol + rtol·|r|``), or, where none leaves it,
the one that came nearest, and the first quantity whose value is not the reference's rounded to
the candidate's dtype.
"""

from __future__ import annotations

import torch

from linreg.compare.first_difference import ulps
from linreg.engines.target_observe import quantity_words
from linreg.engines.target_trace import TargetTrace
from linreg.results.target_repro_checks import TargetDifference
from linreg.tolerance import Tolerance


def _g(value: float) -> str:
    return f"{value:.6g}"


def first_difference(
    candidate: TargetTrace, reference: TargetTrace, until: int
) -> TargetDifference:
    """The first quantity whose bits differ, through step ``until``."""
    last = min(until + 1, candidate.steps, reference.steps)
    for step in range(last):
        c_digests = dict(zip(candidate.order, candidate.digests[step], strict=True))
        r_digests = dict(zip(reference.order, reference.digests[step], strict=True))
        agreed: list[str] = []
        for quantity in candidate.order:
            c, r = c_digests.get(quantity), r_digests.get(quantity)
            if c is None or r is None:
                continue  # not shown by one engine (a compiled step's clipped gradients)
            if c == r:
                agreed.append(quantity)
                continue
            return _difference(step, quantity, candidate, reference, agreed)
    return TargetDifference(
        "not reproduced",
        f"the replays agree bit for bit through step {last - 1}: the difference the runs "
        "showed did not come again",
    )


def _difference(step, quantity, candidate, reference, agreed) -> TargetDifference:
    before = _before(agreed)
    c_values, r_values = candidate.values(step), reference.values(step)
    c = None if c_values is None else c_values.get(quantity)
    r = None if r_values is None else r_values.get(quantity)
    if c is None or r is None or c.shape != r.shape or c.dtype != r.dtype:
        line = f"step {step}: {quantity_words(quantity)} differs first{before} (values not kept)"
        return TargetDifference("first difference", line, step, quantity)
    distance = int(ulps(c, r).max())
    max_abs = float((c.to(torch.float64) - r.to(torch.float64)).abs().max())
    line = (
        f"step {step}: {quantity_words(quantity)} differs first, by {distance} ULP "
        f"(max abs diff {_g(max_abs)}){before}"
    )
    return TargetDifference("first difference", line, step, quantity, distance, max_abs)


def _before(agreed: list[str]) -> str:
    if not agreed:
        return ""
    if len(agreed) == 1:
        return f"; {agreed[0]} agrees bit for bit"
    more = f" and {len(agreed) - 3} more" if len(agreed) > 3 else ""
    return f"; {', '.join(agreed[:3])}{more} agree bit for bit"


def first_beyond_tolerance(
    candidate: TargetTrace, reference: TargetTrace, tolerance: Tolerance, until: int
) -> TargetDifference:
    """The first quantity beyond ``tolerance`` of the reference, through step ``until``, over
    the steps whose values both replays kept."""
    first = max(candidate.keep_from, reference.keep_from)
    last = min(until + 1, candidate.steps, reference.steps)
    dtype = candidate.dtype
    rounding: tuple[int, str, int] | None = None  # the first value not float64's, rounded
    nearest: tuple[float, int, str, float, float] | None = None  # share, step, q, diff, allowed
    for step in range(first, last):
        c_values, r_values = candidate.values(step), reference.values(step)
        if c_values is None or r_values is None:
            break
        for quantity in candidate.order:
            c, r = c_values.get(quantity), r_values.get(quantity)
            if c is None or r is None or c.shape != r.shape:
                continue
            c64, r64 = c.to(torch.float64), r.to(torch.float64)
            difference = (c64 - r64).abs()
            allowed = tolerance.atol + tolerance.rtol * r64.abs()
            if rounding is None and c.is_floating_point():
                distance = int(ulps(c, r.to(c.dtype)).max()) if c.numel() else 0
                if distance:
                    rounding = (step, quantity, distance)
            if not c.numel():
                continue
            share = difference / allowed.clamp_min(1e-300)  # atol 0 and a zero: no division by 0
            at = int(share.argmax())
            if nearest is None or float(share[at]) > nearest[0]:
                nearest = (
                    float(share[at]),
                    step,
                    quantity,
                    float(difference[at]),
                    float(allowed[at]),
                )
            if bool((difference > allowed).any()):
                distance = int(ulps(c, r.to(c.dtype))[at]) if c.is_floating_point() else None
                line = (
                    f"step {step}: {quantity_words(quantity)} is the first beyond {dtype}'s "
                    f"tolerance of {reference.dtype}, by {_g(float(difference[at]))} "
                    f"(allowed {_g(float(allowed[at]))}: atol {tolerance.atol:g} + rtol "
                    f"{tolerance.rtol:g}·|{reference.dtype}|)"
                    f"{_rounding(rounding, reference.dtype)}"
                )
                return TargetDifference(
                    "beyond tolerance",
                    line,
                    step,
                    quantity,
                    distance,
                    float(difference[at]),
                    float(allowed[at]),
                )
    if nearest is None:
        return TargetDifference("not replayed", "no step's values were kept on both sides")
    _, step, quantity, difference, allowed = nearest
    line = (
        f"every quantity within {dtype}'s tolerance of {reference.dtype} through step "
        f"{last - 1}; nearest: {quantity_words(quantity)} at step {step}, by "
        f"{_g(difference)} (allowed {_g(allowed)}){_rounding(rounding, reference.dtype)}"
    )
    return TargetDifference("within tolerance", line, step, quantity, None, difference, allowed)


def _rounding(rounding: tuple[int, str, int] | None, reference_dtype: str) -> str:
    if rounding is None:
        return ""
    step, quantity, distance = rounding
    return (
        f"; the first value that is not {reference_dtype}'s rounded: "
        f"{quantity_words(quantity)} at step {step}, by {distance} ULP"
    )
