"""Op counts: the aten ops a case's counted call made, by op and by the line that made each
(``linreg.engines.op_counts`` counts them), as a bench case keeps them in
``extra_info["op_counts"]``.

Counts are integers over ``steps_counted`` steps (a train case: the run's epochs; an epoch or
inference case: one call), so that two records compare exactly; a count per step is a
quotient. Torch-free: reading a record does not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from linreg.errors import ResultSetError
from linreg.json_types import JsonObject

OP_COUNTS_KEY = "op_counts"  # extra_info key of a bench case
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class OpSite:
    """``calls`` calls of one op from one line: the innermost frame outside torch, its file
    (relative to its sys.path entry), line, function and source text; ``graph``: the op is a
    node of a compiled graph, counted once per run of the graph."""

    file: str
    line: int
    function: str
    calls: int
    code: str = ""
    graph: bool = False

    @property
    def key(self) -> tuple[str, int, str, bool]:
        """What tells two sites apart (the source text follows from file and line)."""
        return (self.file, self.line, self.function, self.graph)

    def to_dict(self) -> JsonObject:
        return {"file": self.file, "line": self.line, "function": self.function,
                "code": self.code, "graph": self.graph, "calls": self.calls}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any, where: str) -> OpSite:
        if not isinstance(data, dict):
            raise ValueError(f"{where} must be an object")
        return cls(
            file=_string(f"{where}.file", data.get("file"), empty=True),
            line=_integer(f"{where}.line", data.get("line"), least=0),
            function=_string(f"{where}.function", data.get("function"), empty=True),
            calls=_integer(f"{where}.calls", data.get("calls"), least=1),
            code=_string(f"{where}.code", data.get("code", ""), empty=True),
            graph=_boolean(f"{where}.graph", data.get("graph", False)),
        )


@dataclass(frozen=True)
class OpCount:
    """One op (``aten::mm``, overloads merged): its calls over the steps counted, by site."""

    op: str
    calls: int
    sites: tuple[OpSite, ...]

    def to_dict(self) -> JsonObject:
        return {"op": self.op, "calls": self.calls, "sites": [s.to_dict() for s in self.sites]}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> OpCount:
        if not isinstance(data, dict):
            raise ValueError(f"{where} must be an object")
        op = _string(f"{where}.op", data.get("op"))
        calls = _integer(f"{where}.calls", data.get("calls"), least=1)
        sites = data.get("sites")
        if not isinstance(sites, list) or not sites:
            raise ValueError(f"{where}.sites must be a non-empty list")
        read = tuple(OpSite.from_dict(s, f"{where}.sites[{i}]") for i, s in enumerate(sites))
        keys = [s.key for s in read]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{where}.sites names one site twice")
        if sum(s.calls for s in read) != calls:
            raise ValueError(f"{where}.calls ({calls}) is not the sum of its sites' calls")
        return cls(op, calls, read)


class _Call(Protocol):
    """One op's calls from one line, as linreg.engines.op_counts.OpCall gives them."""

    op: str
    file: str
    line: int
    function: str
    code: str
    graph: bool
    calls: int


@dataclass(frozen=True)
class OpCounts:
    """The ops one case's counted call made over ``steps_counted`` steps (or inference calls),
    on ``device`` with torch ``torch_version``; ``seconds``: what counting took."""

    case: str
    engine: str | None
    device: str
    torch_version: str
    steps_counted: int
    ops: tuple[OpCount, ...]  # sorted by op
    seconds: float | None = None

    def per_step(self, calls: int) -> float:
        return calls / self.steps_counted

    def by_op(self) -> dict[str, OpCount]:
        return {count.op: count for count in self.ops}

    @classmethod
    def from_calls(
        cls,
        case: str,
        engine: str | None,
        device: str,
        torch_version: str,
        steps_counted: int,
        calls: Iterable[_Call],
        seconds: float | None = None,
    ) -> OpCounts:
        """The record of a count (linreg.engines.op_counts.CountedOps.calls): sites grouped by
        op, ops and sites in a stable order."""
        grouped: dict[str, dict[tuple[str, int, str, bool], OpSite]] = {}
        for call in calls:
            site = OpSite(call.file, call.line, call.function, call.calls, call.code, call.graph)
            sites = grouped.setdefault(call.op, {})
            if site.key in sites:  # the same line under another overload of the op
                old = sites[site.key]
                site = OpSite(old.file, old.line, old.function, old.calls + site.calls,
                              old.code, old.graph)  # fmt: skip
            sites[site.key] = site
        ops = tuple(
            OpCount(op, sum(s.calls for s in sites.values()), _sorted_sites(sites.values()))
            for op, sites in sorted(grouped.items())
        )
        record = cls(case, engine, device, torch_version, steps_counted, ops, seconds)
        return cls.from_dict(record.to_dict())  # one validation for built and read records

    def to_dict(self) -> JsonObject:
        return {
            "schema_version": SCHEMA_VERSION,
            "case": self.case,
            "engine": self.engine,
            "device": self.device,
            "torch": self.torch_version,
            "steps_counted": self.steps_counted,
            "seconds": self.seconds,
            "ops": [count.to_dict() for count in self.ops],
        }

    @classmethod
    def from_dict(cls, data: Any) -> OpCounts:
        """ValueError naming the field for anything a comparison could not trust."""
        if not isinstance(data, dict):
            raise ValueError("op counts must be an object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"schema_version must be {SCHEMA_VERSION}, not {version!r}")
        engine = data.get("engine")
        seconds = data.get("seconds")
        if seconds is not None and (
            not isinstance(seconds, (int, float))
            or isinstance(seconds, bool)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ValueError(f"seconds must be a finite number >= 0 or null, not {seconds!r}")
        ops = data.get("ops")
        if not isinstance(ops, list):
            raise ValueError("ops must be a list")
        read = tuple(OpCount.from_dict(op, f"ops[{i}]") for i, op in enumerate(ops))
        names = [count.op for count in read]
        if len(set(names)) != len(names):
            raise ValueError("ops names one op twice")
        return cls(
            case=_string("case", data.get("case")),
            engine=None if engine is None else _string("engine", engine),
            device=_string("device", data.get("device")),
            torch_version=_string("torch", data.get("torch")),
            steps_counted=_integer("steps_counted", data.get("steps_counted"), least=1),
            ops=tuple(sorted(read, key=lambda count: count.op)),
            seconds=None if seconds is None else float(seconds),
        )


class _Case(Protocol):
    """A bench case as linreg.results.bench_file.BenchCase holds it (which reads this module to
    refuse a malformed record with its file)."""

    fullname: str
    extra_info: dict[str, Any]


def case_op_counts(json_path: Path, case: _Case) -> OpCounts | None:
    """The op counts a bench case keeps in its extra_info; None where it keeps none."""
    data = case.extra_info.get(OP_COUNTS_KEY)
    if data is None:
        return None
    try:
        return OpCounts.from_dict(data)
    except ValueError as exc:
        raise ResultSetError(f"{json_path}: {case.fullname}: malformed op counts ({exc})") from None


def _sorted_sites(sites: Iterable[OpSite]) -> tuple[OpSite, ...]:
    """Most calls first, then by place: the line that made most of an op leads."""
    return tuple(sorted(sites, key=lambda s: (-s.calls, s.file, s.line, s.function, s.graph)))


def _string(name: str, value: Any, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value):
        said = "a string" if empty else "a non-empty string"
        raise ValueError(f"{name} must be {said}, not {value!r}")
    return value


def _integer(name: str, value: Any, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, not {value!r}")
    return value


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value
