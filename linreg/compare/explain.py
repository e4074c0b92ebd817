"""Where a case's instructions went: the functions whose counts moved between two profiles.

Pure functions over values, after ``torch.utils.benchmark``: each side's function table becomes
a ``FunctionCounts``, standardised (``CallgrindStats.as_standardized()``'s rules, and a few more
for paths and addresses it leaves) and denoised (``FunctionCounts.denoise()``, and the same
lookups under Python 3.11's names); the delta is taken per call, and the functions whose change
lies beyond the noise floor are ranked by it, inclusive and exclusive apart.

Inclusive lists leave out the interpreter's own frames: a CPython frame's inclusive count is
whatever Python code ran under it (every change passes through ``_PyEval_EvalFrameDefault``),
so it names no cause; their own instructions stay in the exclusive list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from linreg.results.profiles import FunctionTable
from linreg.results.speed_verdict import EXCLUSIVE, INCLUSIVE, FunctionDelta

if TYPE_CHECKING:
    from torch.utils.benchmark.utils.valgrind_wrapper.timer_interface import FunctionCounts

# torch.utils.benchmark's classes are imported where a profile is read, not here: every
# `linreg compare` imports this module, and most comparisons list no function (torch's import
# is most of such a command's second).

TOP = 15
# The noise rule, calibrated on repeated counts of the same code (README "Where the
# instructions went": six counts of the train case on an Intel Xeon, two on AMD EPYC).
# Between identical runs only the memory allocators' work moves: where the heap lies decides how
# much glibc's malloc and CPython's obmalloc do (on the Xeon the case took one of two counts,
# 0.2 % apart; _PyObject_Free moved by 7.8 % of its own count, 0.115 % of the case's). All
# else moved by 14,000 instructions a call at most. So a change is beyond noise when it
# exceeds both floors below (as on AMD, where no function moved by more than 0.03 % of the case)
# and, for an allocator's function, a quarter of its own count; an inclusive count holds the
# allocator work beneath the function, so there the change must also exceed the allocators'
# whole movement in the comparison (their exclusive changes' sizes, summed).
NOISE_SHARE = 0.001  # of the case's instructions per call (the reference's)
NOISE_MIN_PER_CALL = 1_000  # instructions
ALLOCATOR_SHARE = 0.25  # of an allocator function's own instructions per call (the larger side)
# The allocators' functions, by their standardised names: glibc's malloc family, CPython's
# object allocator and collector, C++'s operator new and delete.
_ALLOCATOR = re.compile(
    r"(?:^|[/:])(?:malloc|arena|obmalloc|gcmodule|gc)\.c:"
    r"|^operator (?:new|delete)\b"
    r"|^(?:malloc|free|calloc|realloc|posix_memalign|aligned_alloc)$"
)

# CallgrindStats.as_standardized()'s own rules, then ours: the rest of a CPython source tree
# (Include/, Modules/, Parser/), PyTorch's source roots wherever it was built, addresses of
# unnamed code (which differ between builds and between runs), and "???:" where a build has no
# line tables (so a name reads the same with and without them).
_MORE_RULES = (
    (re.compile(r"^.+/(Include|Modules|Parser)/"), r"\1/"),
    (re.compile(r"^(?!build/)[^:]*?/((?:aten|c10|torch/csrc|third_party)/)"), r"\1"),
    (re.compile(r"0x[0-9a-fA-F]{4,}"), "0x…"),
    (re.compile(r"^\?\?\?:"), ""),  # no source file known: the symbol alone
)
# The lookups FunctionCounts.denoise() drops (dictobject.c:lookdict_unicode), by the names
# Python 3.11 gave them.
_NOISY = ("dictobject.c:unicodekeys_lookup_unicode", "dictobject.c:_Py_dict_lookup")
# A frame of the interpreter: in its shared library or executable, or in CPython's sources.
_INTERPRETER = re.compile(
    r"\[[^\]]*(?:libpython[\d.]*\.so[\d.]*|/python[\d.]*)\]$"
    r"|(?:^|/)(?:Python|Objects|Include|Modules|Parser)/[^:]*\.[ch]:"
    r"|^\?\?\?:0x[0-9a-fA-F]+"  # no symbol, no object: nothing to name
)


@dataclass(frozen=True)
class FunctionChanges:
    """The functions beyond noise (inclusive top, then exclusive top), with the case's change
    per call, the floor applied, and how many functions moved within it."""

    functions: tuple[FunctionDelta, ...]
    change_per_call: float
    noise_per_call: float
    within_noise: int  # changes (a function inclusive or exclusive) at or below the floor
    not_listed: int = 0  # changes beyond the floor, past the top of their list
    allocators_per_call: float = 0.0  # the allocators' movement: an inclusive change's floor

    @property
    def note(self) -> str:
        """The list's caveat in one line, as the terminal and the record say it."""
        floor = f"noise: |Δ| ≤ {self.noise_per_call:,.0f} instructions per call"
        if self.allocators_per_call > self.noise_per_call:
            floor += f", inclusive ≤ {self.allocators_per_call:,.0f}, what the allocators moved"
        floor += f", an allocator's ≤ {ALLOCATOR_SHARE * 100:g} % of its own"
        if not self.functions:
            return f"no function changed beyond noise ({floor}; {self.within_noise} within it)"
        more = f"{self.not_listed} more beyond noise not listed; " if self.not_listed else ""
        return f"{more}{self.within_noise} smaller changes within noise ({floor})"


def function_counts(pairs: tuple[tuple[int, str], ...], inclusive: bool) -> FunctionCounts:
    from torch.utils.benchmark.utils.valgrind_wrapper.timer_interface import (
        FunctionCount,
        FunctionCounts,
    )

    return FunctionCounts(tuple(FunctionCount(c, fn) for c, fn in pairs), inclusive=inclusive)


def is_interpreter_frame(name: str) -> bool:
    """A raw callgrind_annotate name (file:function [object]) of CPython itself."""
    return _INTERPRETER.search(name) is not None


def standardized(counts: FunctionCounts) -> FunctionCounts:
    """Names comparable across stacks: CallgrindStats.as_standardized()'s rules (build paths,
    library names), then ours (more of CPython's tree, PyTorch's, addresses)."""
    from torch.utils.benchmark.utils.common import TaskSpec
    from torch.utils.benchmark.utils.valgrind_wrapper.timer_interface import (
        CallgrindStats,
        FunctionCounts,
    )

    empty = FunctionCounts((), inclusive=counts.inclusive)
    stats = CallgrindStats(
        task_spec=TaskSpec(stmt="", setup=""),
        number_per_run=1,
        built_with_debug_symbols=False,
        baseline_inclusive_stats=empty if not counts.inclusive else counts,
        baseline_exclusive_stats=counts if not counts.inclusive else empty,
        stmt_inclusive_stats=counts if counts.inclusive else empty,
        stmt_exclusive_stats=empty if counts.inclusive else counts,
        stmt_callgrind_out=None,
    ).as_standardized()
    result = stats.stats(inclusive=counts.inclusive)
    for pattern, replacement in _MORE_RULES:
        result = result.transform(lambda fn, p=pattern, r=replacement: p.sub(r, fn))
    return result


def denoised(counts: FunctionCounts) -> FunctionCounts:
    """FunctionCounts.denoise(), and the same lookups under Python 3.11's names."""
    return counts.denoise().filter(lambda fn: not any(noisy in fn for noisy in _NOISY))


def prepared(table: FunctionTable, inclusive: bool) -> FunctionCounts:
    """One side's counts, ready to diff: interpreter frames out of the inclusive list,
    standardised, denoised."""
    counts = function_counts(table.inclusive if inclusive else table.exclusive, inclusive)
    if inclusive:
        counts = counts.filter(lambda fn: not is_interpreter_frame(fn))
    return denoised(standardized(counts))


def noise_floor_per_call(reference_per_call: float) -> float:
    return max(NOISE_MIN_PER_CALL, NOISE_SHARE * reference_per_call)


def is_allocator(name: str) -> bool:
    """A standardised name of a memory allocator's function, whose count depends on where the
    heap lies, not only on the code that ran."""
    return _ALLOCATOR.search(name) is not None


def beyond_noise(
    name: str, reference: float, candidate: float, floor: float, inclusive_floor: float
) -> bool:
    """The noise rule for one function's instructions per call on each side: beyond
    ``floor``; an allocator's also beyond ALLOCATOR_SHARE of its own count; any other's also
    beyond ``inclusive_floor`` (the allocators' movement for an inclusive count, 0 for an
    exclusive one)."""
    delta = abs(candidate - reference)
    if delta <= floor:
        return False
    if is_allocator(name):
        return delta > ALLOCATOR_SHARE * max(abs(reference), abs(candidate))
    return delta > inclusive_floor


def function_changes(
    reference: FunctionTable, candidate: FunctionTable, top: int = TOP
) -> FunctionChanges:
    """The candidate's functions against the reference's, per call (each side's own calls):
    the ``top`` inclusive and ``top`` exclusive changes beyond noise, largest |Δ| first."""
    reference_per_call = reference.total / reference.calls
    change = candidate.total / candidate.calls - reference_per_call
    floor = noise_floor_per_call(reference_per_call)
    sides = {
        inclusive: (_per_call(prepared(reference, inclusive), reference.calls),
                    _per_call(prepared(candidate, inclusive), candidate.calls))
        for inclusive in (True, False)
    }  # fmt: skip
    ref_exclusive, cand_exclusive = sides[False]
    allocators = sum(
        abs(cand_exclusive.get(name, 0.0) - ref_exclusive.get(name, 0.0))
        for name in ref_exclusive.keys() | cand_exclusive.keys()
        if is_allocator(name)
    )
    functions: list[FunctionDelta] = []
    within = not_listed = 0
    for inclusive, kind in ((True, INCLUSIVE), (False, EXCLUSIVE)):
        ref, cand = sides[inclusive]
        moved = []
        for name in ref.keys() | cand.keys():
            delta = cand.get(name, 0.0) - ref.get(name, 0.0)
            if delta:
                moved.append((name, delta))
        above = allocators if inclusive else 0.0
        beyond = [
            (name, delta)
            for name, delta in moved
            if beyond_noise(name, ref.get(name, 0.0), cand.get(name, 0.0), floor, above)
        ]
        within += len(moved) - len(beyond)
        not_listed += max(len(beyond) - top, 0)
        beyond.sort(key=lambda item: (-abs(item[1]), item[0]))
        functions += [
            FunctionDelta(name, kind, ref.get(name, 0.0), cand.get(name, 0.0),
                          delta / change if change else None)
            for name, delta in beyond[:top]
        ]  # fmt: skip
    return FunctionChanges(tuple(functions), change, floor, within, not_listed, allocators)


def _per_call(counts: FunctionCounts, calls: int) -> dict[str, float]:
    return {fn: c / calls for c, fn in counts}
