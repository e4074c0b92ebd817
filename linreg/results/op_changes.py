"""What the op counts of one case say between two sides: the ops a step makes more or less
often, from which lines, and, where a case's instructions moved with the same ops, the op they
moved inside.

``linreg.compare.op_delta`` builds these by its rule (exact counts per step, no noise floor);
the speed verdict keeps them with each case (``CaseVerdict.ops``); the report and the CLI say
them in words (``linreg.report.op_words``). Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from linreg.json_types import JsonObject

# OpDelta.change and SiteDelta.change
NEW, GONE, MORE, FEWER, MOVED = "new", "gone", "more", "fewer", "moved"
CHANGES = (NEW, GONE, MORE, FEWER, MOVED)


def change_of(reference: float, candidate: float) -> str:
    """NEW, GONE, MORE or FEWER for two different counts; MOVED for equal ones."""
    if reference == candidate:
        return MOVED
    if reference == 0:
        return NEW
    if candidate == 0:
        return GONE
    return MORE if candidate > reference else FEWER


@dataclass(frozen=True)
class SiteDelta:
    """One line's calls of an op per step, on each side (0 where the side has no such site)."""

    file: str
    line: int
    function: str
    code: str
    graph: bool
    reference_per_step: float
    candidate_per_step: float

    @property
    def delta(self) -> float:
        return self.candidate_per_step - self.reference_per_step

    @property
    def change(self) -> str:
        return change_of(self.reference_per_step, self.candidate_per_step)

    def to_dict(self) -> JsonObject:
        return {"file": self.file, "line": self.line, "function": self.function,
                "code": self.code, "graph": self.graph,
                "reference_per_step": self.reference_per_step,
                "candidate_per_step": self.candidate_per_step}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> SiteDelta:
        if not isinstance(data, dict):
            raise ValueError("an op's site must be an object")
        line = data["line"]
        if not isinstance(line, int) or isinstance(line, bool) or line < 0:
            raise ValueError(f"an op site's line must be an integer >= 0, not {line!r}")
        return cls(
            file=_text(data, "file"),
            line=line,
            function=_text(data, "function"),
            code=_text(data, "code"),
            graph=bool(data.get("graph", False)),
            reference_per_step=_count(data, "reference_per_step"),
            candidate_per_step=_count(data, "candidate_per_step"),
        )


@dataclass(frozen=True)
class OpDelta:
    """One op's calls per step on each side, and the sites whose calls changed (new sites
    first, then by the size of their change). ``change`` is MOVED where the op's count per step
    is the same but its calls came from other lines."""

    op: str
    reference_per_step: float
    candidate_per_step: float
    sites: tuple[SiteDelta, ...]

    @property
    def delta(self) -> float:
        return self.candidate_per_step - self.reference_per_step

    @property
    def change(self) -> str:
        return change_of(self.reference_per_step, self.candidate_per_step)

    def to_dict(self) -> JsonObject:
        return {"op": self.op, "reference_per_step": self.reference_per_step,
                "candidate_per_step": self.candidate_per_step,
                "sites": [s.to_dict() for s in self.sites]}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> OpDelta:
        if not isinstance(data, dict) or not isinstance(data.get("op"), str) or not data["op"]:
            raise ValueError("an op entry must be an object with an op name")
        sites = data.get("sites", [])
        if not isinstance(sites, list):
            raise ValueError("an op entry's sites must be a list")
        return cls(
            op=data["op"],
            reference_per_step=_count(data, "reference_per_step"),
            candidate_per_step=_count(data, "candidate_per_step"),
            sites=tuple(SiteDelta.from_dict(s) for s in sites),
        )


@dataclass(frozen=True)
class OpEvidence:
    """A case's op counts, reference against candidate: every op whose count per step or whose
    lines changed (``changes``, the largest change first), the ops a step on each side, the
    record fields besides the code that make the counts differ (``stack_differences``:
    "device", "torch", "engine"), and, where the ops are the same but the instructions moved,
    the op whose inclusive instructions moved most (``moved_inside``, from the function list's
    ``at::_ops::<op>::call`` frames: its change a call; "" where no op's frame moved beyond
    noise or no profile was kept)."""

    reference_per_step: float  # all ops a step
    candidate_per_step: float
    changes: tuple[OpDelta, ...] = ()
    op_names: tuple[str, ...] = ()  # every op either side counted, sorted
    stack_differences: tuple[str, ...] = ()
    moved_inside: str = ""
    moved_inside_per_call: float | None = None  # inclusive instructions a call

    @property
    def added(self) -> tuple[OpDelta, ...]:
        """Ops a step makes more often (new ones included)."""
        return tuple(d for d in self.changes if d.delta > 0)

    @property
    def removed(self) -> tuple[OpDelta, ...]:
        return tuple(d for d in self.changes if d.delta < 0)

    @property
    def moved(self) -> tuple[OpDelta, ...]:
        """Ops made as often, from other lines."""
        return tuple(d for d in self.changes if d.change == MOVED)

    @property
    def same(self) -> bool:
        """The same ops, each as often a step (lines aside): which ops run did not change."""
        return not self.added and not self.removed

    def to_dict(self) -> JsonObject:
        return {
            "reference_per_step": self.reference_per_step,
            "candidate_per_step": self.candidate_per_step,
            "changes": [d.to_dict() for d in self.changes],
            "op_names": list(self.op_names),
            "stack_differences": list(self.stack_differences),
            "moved_inside": self.moved_inside,
            "moved_inside_per_call": self.moved_inside_per_call,
        }

    @classmethod
    def from_dict(cls, data: Any) -> OpEvidence:
        if not isinstance(data, dict):
            raise ValueError("a case's ops must be an object")
        changes = data.get("changes", [])
        differences = data.get("stack_differences", [])
        names = data.get("op_names", [])
        if not isinstance(changes, list):
            raise ValueError("a case's op changes must be a list")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("a case's op_names must be a list of strings")
        if not isinstance(differences, list) or not all(isinstance(d, str) for d in differences):
            raise ValueError("a case's op stack_differences must be a list of strings")
        inside = data.get("moved_inside_per_call")
        return cls(
            reference_per_step=_count(data, "reference_per_step"),
            candidate_per_step=_count(data, "candidate_per_step"),
            changes=tuple(OpDelta.from_dict(d) for d in changes),
            op_names=tuple(names),
            stack_differences=tuple(differences),
            moved_inside=str(data.get("moved_inside") or ""),
            moved_inside_per_call=None if inside is None else _finite(inside, "moved_inside"),
        )


def _text(data: dict, key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"an op site's {key} must be a string, not {value!r}")
    return value


def _count(data: dict, key: str) -> float:
    value = _finite(data[key], key)
    if value < 0:
        raise ValueError(f"an op's {key} must be >= 0, not {value!r}")
    return value


def _finite(value: Any, key: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"an op's {key} must be a finite number, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class OpStep:
    """Where a case's ops a step changed over time: between two consecutive sessions
    (``before``, ``after``: indices into History.sessions) of one stack that counted them."""

    case: str
    stack: str
    before: int
    after: int
    ops: OpEvidence
