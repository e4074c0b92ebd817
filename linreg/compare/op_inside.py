"""Where a case's instructions moved while its ops stayed the same: the op whose inclusive
instruction count moved most, read from the two callgrind profiles.

Every aten op enters through its dispatcher entry, ``at::_ops::<op>_<overload>::call``; that
frame's inclusive count holds the op's whole cost below Python (autograd's wrapper, the
dispatch, the kernel). Among the entries of the ops the step counts (so that a composite such as
``aten::linear`` does not outrank the ``aten::addmm`` inside it), the one whose change a call is
largest and beyond the function list's noise rule (``linreg.compare.explain.beyond_noise``) is
named. It is a reading of the profile, not of the op counts: where no entry moved beyond noise
(the change lies in Python, in the interpreter, around the ops), nothing is named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from linreg.compare.explain import beyond_noise, is_allocator, noise_floor_per_call, prepared
from linreg.results.profiles import FunctionTable

# A dispatcher entry, standardised: at::_ops::addmm::call(at::Tensor const&, …)
_ENTRY = re.compile(r"^at::_ops::(?P<name>\w+)::call\(")


def moved_inside(
    reference: FunctionTable, candidate: FunctionTable, ops: Iterable[str]
) -> tuple[str, float] | None:
    """(op, its inclusive change in instructions a call) for the counted op (``ops``, e.g.
    "aten::mm") whose dispatcher entry moved most beyond noise; None where none did."""
    counted = {op.split("::", 1)[-1]: op for op in ops}
    ref_per_call = reference.total / reference.calls
    floor = noise_floor_per_call(ref_per_call)
    ref_inclusive = _per_call(reference, True)
    cand_inclusive = _per_call(candidate, True)
    ref_exclusive, cand_exclusive = _per_call(reference, False), _per_call(candidate, False)
    allocators = sum(
        abs(cand_exclusive.get(name, 0.0) - ref_exclusive.get(name, 0.0))
        for name in ref_exclusive.keys() | cand_exclusive.keys()
        if is_allocator(name)
    )
    moved: dict[str, float] = {}
    for name in ref_inclusive.keys() | cand_inclusive.keys():
        match = _ENTRY.match(name)
        op = counted.get(_op_name(match["name"], counted)) if match else None
        if op is None:
            continue
        ref, cand = ref_inclusive.get(name, 0.0), cand_inclusive.get(name, 0.0)
        # An op's overloads (mean, mean.dim) are one op in the counts, and one may call
        # another: the op's largest entry, not their sum.
        larger = abs(cand - ref) > abs(moved.get(op, 0.0))
        if larger and beyond_noise(name, ref, cand, floor, allocators):
            moved[op] = cand - ref
    if not moved:
        return None
    op = max(sorted(moved), key=lambda name: abs(moved[name]))
    return op, moved[op]


def _op_name(entry: str, counted: dict[str, str]) -> str | None:
    """The counted op an entry belongs to: ``add__Tensor`` is ``add_`` (its overload
    ``Tensor``), ``sum_dim_IntList`` is ``sum``; the longest name that fits."""
    if entry.endswith("_out") and entry not in counted:
        return None  # an out= variant, called by another op's kernel rather than by the step
    fits = [name for name in counted if entry == name or entry.startswith(f"{name}_")]
    return max(fits, key=len) if fits else None


def _per_call(table: FunctionTable, inclusive: bool) -> dict[str, float]:
    return {fn: count / table.calls for count, fn in prepared(table, inclusive)}
