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

from linreg.json_types import Fingerprint, JsonObject
from linreg.results.op_counts import OP_COUNTS_KEY, OpCounts


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
    machine_info: Fingerprint
    cases: tuple[BenchCase, ...]
    datetime: str | None = None

    @property
    def machine(self) -> str | None:
        name = self.machine_info.get("linreg_machine")
        return name if isinstance(name, str) else None

    @property
    def environment(self) -> Fingerprint:
        env = self.machine_info.get("linreg_environment")
        return env if isinstance(env, dict) else self.machine_info

    @classmethod
    def from_dict(cls, path: Path, data: JsonObject) -> BenchFile:
        """ValueError (naming the case or the field) for anything a comparison could not trust."""
        machine_info = data["machine_info"]
        benchmarks = data["benchmarks"]
        if not isinstance(machine_info, dict) or not isinstance(benchmarks, list):
            raise ValueError("machine_info must be an object and benchmarks a list")
        started = data.get("datetime")
        if started is not None and not isinstance(started, str):
            raise ValueError(f"datetime must be a string, not {started!r}")
        _check_machine_info(machine_info)
        cases = tuple(_case(bench) for bench in benchmarks)
        return cls(path=path, machine_info=machine_info, cases=cases, datetime=started)


# What linreg reads from machine_info, each of the type it is used as: sessions are grouped
# and sorted by the strings, processes ordered by the index, the fingerprints read as objects.
# A file without them (a bare `pytest bench`) is fine; one holding them of another type is not.
_MACHINE_INFO_TYPES: dict[str, tuple[type, str]] = {
    "linreg_machine": (str, "a string"),
    "linreg_session": (str, "a string"),
    "linreg_process": (int, "an integer"),
    "linreg_environment": (dict, "an object"),
    "cpu": (dict, "an object"),  # py-cpuinfo's record; the report reads its flags and sizes
}


def _check_machine_info(machine_info: Fingerprint) -> None:
    for key, (kind, said) in _MACHINE_INFO_TYPES.items():
        value = machine_info.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ValueError(f"machine_info.{key} must be {said}, not {value!r}")
    flags = (machine_info.get("cpu") or {}).get("flags")
    if flags is not None and (
        not isinstance(flags, list) or not all(isinstance(f, str) for f in flags)
    ):
        raise ValueError("machine_info.cpu.flags must be a list of strings")


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
    for where, values, keys in (("stats", stats, _STAT_TYPES), ("extra_info", extra, _EXTRA_TYPES)):
        for key, integer in keys.items():
            value = values.get(key)
            if value is not None and not _is_number(value, integer):
                said = "an integer" if integer else "a number"
                raise ValueError(f"{fullname}: {where}.{key} must be {said}, not {value!r}")
    _check_op_counts(fullname, extra)
    return BenchCase(
        name=str(bench.get("name", fullname)),
        fullname=str(fullname),
        stats=stats,
        rounds=tuple(float(v) for v in data),
        extra_info=extra,
    )


def _check_op_counts(fullname: str, extra: dict[str, Any]) -> None:
    """A case's op counts are refused with its file, as its rounds are: a comparison would
    otherwise meet them malformed halfway through."""
    data = extra.get(OP_COUNTS_KEY)
    if data is not None:
        try:
            OpCounts.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{fullname}: malformed op counts ({exc})") from None


# The figures of a case that the report casts to numbers (its table and figures), absent or
# null where a case has none; True: an integer. (An instruction count of another type is
# passed over where it is read, as a process that counted none.)
_STAT_TYPES = {
    "median": False, "iqr": False, "mean": False, "stddev": False, "min": False, "ops": False,
    "rounds": True,
}  # fmt: skip
_EXTRA_TYPES = {
    "seed": True, "size": True, "threads": True, "peak_bytes": True, "epoch_us": False,
    "samples_per_s": False, "gb_per_s": False, "copy_gb_per_s": False,
}  # fmt: skip


def _is_number(value: Any, integer: bool) -> bool:
    return not isinstance(value, bool) and isinstance(value, int if integer else (int, float))


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
