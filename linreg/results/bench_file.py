"""A pytest-benchmark JSON file of the bench/ suite, read into its cases and raw rounds.

The files stay pytest-benchmark's own (``pytest-benchmark compare`` reads them); linreg adds its
machine name and environment fingerprint to ``machine_info`` and each case's parameters and
derived figures to its ``extra_info``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BenchCase:
    """One stored case: its ids, pytest-benchmark's summary stats, raw rounds and extra_info."""

    name: str
    fullname: str
    stats: dict[str, Any]
    rounds: tuple[float, ...]  # seconds, one per round (pytest-benchmark's stats.data)
    extra_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchFile:
    path: Path
    machine_info: dict[str, Any]
    cases: tuple[BenchCase, ...]
    datetime: str | None = None

    @property
    def machine(self) -> str | None:
        name = self.machine_info.get("linreg_machine")
        return name if isinstance(name, str) else None

    @property
    def environment(self) -> dict[str, Any]:
        env = self.machine_info.get("linreg_environment")
        return env if isinstance(env, dict) else self.machine_info

    @classmethod
    def from_dict(cls, path: Path, data: dict[str, Any]) -> BenchFile:
        """ValueError (naming the case) for anything a comparison could not trust."""
        machine_info = data["machine_info"]
        benchmarks = data["benchmarks"]
        if not isinstance(machine_info, dict) or not isinstance(benchmarks, list):
            raise ValueError("machine_info must be an object and benchmarks a list")
        cases = tuple(_case(bench) for bench in benchmarks)
        return cls(path=path, machine_info=machine_info, cases=cases, datetime=data.get("datetime"))


def _case(bench: Any) -> BenchCase:
    if not isinstance(bench, dict):
        raise ValueError("a benchmark entry is not an object")
    fullname = bench["fullname"]
    stats = bench["stats"]
    if not isinstance(stats, dict) or "data" not in stats:
        raise ValueError(f"{fullname}: no raw rounds (stats.data); save with --benchmark-save-data")
    data = stats["data"]
    if not isinstance(data, list) or not data:
        raise ValueError(f"{fullname}: stats.data must be a non-empty list of seconds")
    for value in data:
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(f"{fullname}: a round of {value!r} is not a time in seconds")
    extra = bench.get("extra_info") or {}
    if not isinstance(extra, dict):
        raise ValueError(f"{fullname}: extra_info must be an object")
    return BenchCase(
        name=str(bench.get("name", fullname)),
        fullname=str(fullname),
        stats=stats,
        rounds=tuple(float(v) for v in data),
        extra_info=extra,
    )


def case_parts(fullname: str) -> tuple[str, tuple[str, ...]]:
    """A case id's kind and parameters: 'bench_inference.py::bench_inference[cpu-float32-n1000]'
    gives ('inference', ('cpu', 'float32', 'n1000'))."""
    name = fullname.rsplit("::", 1)[-1]
    base, _, params = name.partition("[")
    return base.removeprefix("bench_"), tuple(p for p in params.rstrip("]").split("-") if p)


def short_labels(fullnames: list[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """Labels that fit a terminal: each case's kind and the parameters that tell it from the
    others, and the parameters every case shares (said once, above the table)."""
    parts = {name: case_parts(name) for name in fullnames}
    shared = set.intersection(*(set(p) for _, p in parts.values())) if parts else set()
    common = tuple(p for p in next(iter(parts.values()))[1] if p in shared) if parts else ()
    labels = {
        name: " ".join([kind, *(_compact(p) for p in params if p not in shared)])
        for name, (kind, params) in parts.items()
    }
    return labels, common


def _compact(param: str) -> str:
    """A size parameter with many zeros in powers of ten: n10000000 is n1e7, n1000 stays."""
    digits = param[1:]
    if param.startswith("n") and digits.isdigit() and len(digits) > 4:
        stripped = digits.rstrip("0")
        return f"n{stripped}e{len(digits) - len(stripped)}"
    return param
