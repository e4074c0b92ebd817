"""One loader per kind of result file: the kind and schema checks and the one error wrapping.

Every reader of a result file comes through ``load``: whatever is wrong with a file (unreadable,
not JSON, another kind, another schema version, a part missing or of the wrong type) ends as one
ResultSetError naming the file and the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from linreg.errors import ConfigError, ResultSetError
from linreg.results import kinds
from linreg.results.bench_file import BenchFile
from linreg.results.files import read_json
from linreg.results.noise_floor import NoiseFloor
from linreg.results.sweep_record import Sweep
from linreg.run import Run

T = TypeVar("T")
RUN_JSON = "run.json"
# What a malformed record raises while it is built: a missing key, a wrong type, a bad value.
_MALFORMED = (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError)
_NAMES = {
    kinds.RUN: "linreg run record",
    kinds.REPRO_RUN: "repro run record",
    kinds.REPRO_MANIFEST: "repro manifest",
    kinds.REPRO_CHECKS: "repro checks file",
    kinds.SWEEP: "linreg sweep",
    kinds.NOISE_FLOOR: "noise floor",
    kinds.SPEED_VERDICT: "speed verdict",
    kinds.AB: "A/B result",
    kinds.MAIN_JOB: "main job record",
    kinds.GPU_RUN: "gpu-run summary",
    kinds.REPRO_RESUME_POINT: "repro resume point",
    kinds.REPRO_RESUMED: "resumed repro run",
    kinds.BENCH: "pytest-benchmark file",
}


def load(path: str | Path, accept: tuple[str, ...], build: Callable[[dict[str, Any]], T]) -> T:
    """Read ``path``, check that it is one of the ``accept`` kinds at a schema version this linreg
    reads, and build it; any failure is one ResultSetError naming the file."""
    path = Path(path)
    return _build(path, read_json(path), accept, build)


def _build(
    path: Path, data: dict[str, Any], accept: tuple[str, ...], build: Callable[[dict[str, Any]], T]
) -> T:
    kind = kinds.kind_of(data)
    if kind not in accept:
        wanted = " or ".join(_NAMES[k] for k in accept)
        found = f"kind {data.get('kind')!r}" if "kind" in data else "no kind"
        raise ResultSetError(f"{path}: not a {wanted} ({found})")
    readable = (kinds.SCHEMA_VERSIONS.get(kind), *kinds.OLDER_READABLE.get(kind, ()))
    if kind != kinds.BENCH and data.get("schema_version") not in readable:
        raise ResultSetError(
            f"{path}: {kind} schema_version {data.get('schema_version')!r}; this linreg reads "
            f"{kinds.SCHEMA_VERSIONS[kind]} (written by another version of linreg)"
        )
    try:
        return build(data)
    except ConfigError as exc:
        raise ResultSetError(f"{path}: malformed {kind} record (config: {exc})") from None
    except _MALFORMED as exc:
        raise ResultSetError(f"{path}: malformed {kind} record ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing {exc}"
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def run_file(path: str | Path) -> Path:
    """A run folder's run.json, or the file itself."""
    path = Path(path)
    return path / RUN_JSON if path.is_dir() else path


def load_run(path: str | Path) -> Run:
    """A Run from a run folder, its run.json, a repro run record or a golden reference."""
    return load(run_file(path), kinds.RUN_KINDS, Run.from_dict)


def load_sweep(path: str | Path) -> Sweep:
    return load(path, (kinds.SWEEP,), Sweep.from_dict)


def load_bench(path: str | Path) -> BenchFile:
    return load(path, (kinds.BENCH,), lambda data: BenchFile.from_dict(Path(path), data))


def load_noise_floor(path: str | Path) -> NoiseFloor:
    return load(path, (kinds.NOISE_FLOOR,), NoiseFloor.from_dict)


def load_checks(path: str | Path) -> dict[str, Any]:
    """A repro set's checks.json, each check with the fields the report and compare read."""
    return load(path, (kinds.REPRO_CHECKS,), _checks)


def _checks(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data["checks"], list):
        raise ValueError("checks must be a list")
    for check in data["checks"]:
        for key, kind in (("kind", str), ("subject", str), ("against", str), ("reason", str)):
            if not isinstance(check[key], kind):
                raise ValueError(f"a check's {key} must be a string")
        if not isinstance(check["holds"], bool):
            raise ValueError("a check's holds must be true or false")
        comparison = check.get("comparison")
        if comparison is not None and not isinstance(comparison, dict):
            raise ValueError("a check's comparison must be an object")
        if comparison is not None:
            for key in ("candidate", "reference", "level", "quantities"):
                comparison[key]
    return data


SPEED_VERDICTS = ("regressed", "no regression", "undecided", "no baseline", "information")
SPEED_METRICS = ("wall", "instructions")
SPEED_OUTCOMES = ("slower", "faster", "no change", "undecided")


def load_speed_verdict(path: str | Path) -> dict[str, Any]:
    """The regression gate's verdict: candidate against reference, with each case's evidence."""
    return load(path, (kinds.SPEED_VERDICT,), _speed_verdict)


def _upgrade_speed_verdict(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 verdict in schema 2's terms. Its "no significant change" and "within noise"
    were not earned (no equivalence was shown), so they read as undecided, and so does its
    "no regression"."""
    cases = []
    for case in data["cases"]:
        word = str(case["verdict"])
        outcome = next((o for o in ("slower", "faster") if word.startswith(o)), "undecided")
        cases.append({**case, "outcome": outcome, "reason": "" if outcome != "undecided" else
                      f"{word}, said by an older linreg"})  # fmt: skip
    verdict = data["verdict"] if data["verdict"] in ("regressed", "no baseline") else "undecided"
    return {**data, "verdict": verdict, "cases": cases, "confidence": None, "interleaved": False,
            "reference_series": "", "candidate_series": ""}  # fmt: skip


def _speed_verdict(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("schema_version") == 1:
        data = _upgrade_speed_verdict(data)
    for key in ("reference", "candidate", "summary"):
        if not isinstance(data[key], str):
            raise ValueError(f"{key} must be a string")
    for key in ("same_machine", "gating"):
        if not isinstance(data[key], bool):
            raise ValueError(f"{key} must be true or false")
    if data["verdict"] not in SPEED_VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(SPEED_VERDICTS)}")
    if not isinstance(data["cases"], list):
        raise ValueError("cases must be a list")
    for case in data["cases"]:
        if not isinstance(case["case"], str) or not isinstance(case["verdict"], str):
            raise ValueError("a case's case and verdict must be strings")
        if case["metric"] not in SPEED_METRICS:
            raise ValueError(f"a case's metric must be one of {', '.join(SPEED_METRICS)}")
        if case["outcome"] not in SPEED_OUTCOMES:
            raise ValueError(f"a case's outcome must be one of {', '.join(SPEED_OUTCOMES)}")
        # An undecided case may lack the figures a decision needs; present ones must be numbers.
        for key in ("ratio", "p", "p_adjusted", "noise_floor", "confidence", "threshold"):
            if case.get(key) is not None and not _is_number(case[key]):
                raise ValueError(f"a case's {key} must be a number")
        for key, size in (("ci", 2), ("samples", 2)):
            value = case.get(key)
            if value is not None and (
                not isinstance(value, list)
                or len(value) != size
                or not all(_is_number(v) for v in value)
            ):
                raise ValueError(f"a case's {key} must be a list of {size} numbers")
        _check_functions(case.get("functions", []))
    return data


def _check_functions(functions: Any) -> None:
    """A case's function list (linreg.compare.function_delta.FunctionDelta.to_dict's)."""
    if not isinstance(functions, list):
        raise ValueError("a case's functions must be a list")
    for entry in functions:
        if not isinstance(entry, dict) or not isinstance(entry.get("function"), str):
            raise ValueError("a case's function entry must be an object with a function name")
        if entry.get("kind") not in ("inclusive", "exclusive"):
            raise ValueError("a function entry's kind must be inclusive or exclusive")
        for key in ("reference", "candidate", "delta"):
            if not _is_number(entry.get(key)):
                raise ValueError(f"a function entry's {key} must be a number")
        if entry.get("share") is not None and not _is_number(entry["share"]):
            raise ValueError("a function entry's share must be a number or null")


def load_ab_result(path: str | Path) -> dict[str, Any]:
    """A same-machine A/B's ab.json: its stacks, numeric verdict (with its pairs) and speed
    verdict, with the parts a reader of it relies on checked."""
    return load(path, (kinds.AB,), _ab_result)


def _ab_result(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data["stacks"], dict) or not all(
        isinstance(stack, dict) for stack in data["stacks"].values()
    ):
        raise ValueError("stacks must be an object of objects")
    numeric = data["numeric"]
    if not isinstance(numeric, dict) or not isinstance(numeric["verdict"], str):
        raise ValueError("numeric must be an object with a verdict")
    if not isinstance(numeric["pairs"], list):
        raise ValueError("numeric pairs must be a list")
    for pair in numeric["pairs"]:
        if not isinstance(pair["run"], str) or pair["level"] not in ("a", "b", "c", "d"):
            raise ValueError("a numeric pair needs a run and a level a-d")
    if data["speed"] is not None:
        _speed_verdict(data["speed"])
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _job_steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    steps = data["steps"]
    if not isinstance(steps, list) or not all(
        isinstance(s, dict)
        and isinstance(s["name"], str)
        and isinstance(s["ok"], bool)
        and isinstance(s["detail"], str)
        for s in steps
    ):
        raise ValueError("steps must be a list of {name, ok, detail}")
    return steps


def load_gpu_run_summary(path: str | Path) -> dict[str, Any]:
    """A `linreg gpu-run` summary.json, with the parts a reader of it relies on checked."""
    return load(path, (kinds.GPU_RUN,), _gpu_run_summary)


def _gpu_run_summary(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data["machine"], str) or not isinstance(data["cuda"], bool):
        raise ValueError("machine must be a string and cuda true or false")
    for key in ("steps", "crossover", "floor", "repro_levels"):
        if not isinstance(data[key], list) or not all(isinstance(x, dict) for x in data[key]):
            raise ValueError(f"{key} must be a list of objects")
    for step in data["steps"]:
        for key in ("name", "status", "detail"):
            if not isinstance(step[key], str):
                raise ValueError(f"a step's {key} must be a string")
    return data


@dataclass(frozen=True)
class LoadedResult:
    """One result file of any kind: ``value`` is a Run, Sweep, BenchFile, or the checks or
    speed-verdict dict."""

    path: Path
    kind: str
    value: Any


_BUILDERS: dict[str, Callable[[Path, dict[str, Any]], Any]] = {
    kinds.RUN: lambda path, data: Run.from_dict(data),
    kinds.REPRO_RUN: lambda path, data: Run.from_dict(data),
    kinds.SWEEP: lambda path, data: Sweep.from_dict(data),
    kinds.BENCH: BenchFile.from_dict,
    kinds.REPRO_CHECKS: lambda path, data: _checks(data),
    kinds.REPRO_MANIFEST: lambda path, data: data,
    kinds.NOISE_FLOOR: lambda path, data: NoiseFloor.from_dict(data),
    kinds.SPEED_VERDICT: lambda path, data: _speed_verdict(data),
    kinds.AB: lambda path, data: _ab_result(data),
    kinds.MAIN_JOB: lambda path, data: _job_steps(data),
    kinds.GPU_RUN: lambda path, data: _gpu_run_summary(data),
    # The resume check's own files (linreg.suites.repro_resume reads them in full).
    kinds.REPRO_RESUME_POINT: lambda path, data: data,
    kinds.REPRO_RESUMED: lambda path, data: Run.from_dict(data),
}


def load_result(path: str | Path) -> LoadedResult | None:
    """Any result file linreg reads, or None for a JSON file of another kind."""
    path = Path(path)
    data = read_json(path)
    kind = kinds.kind_of(data)
    if kind is None:
        return None
    value = _build(path, data, (kind,), lambda d: _BUILDERS[kind](path, d))
    return LoadedResult(path, kind, value)
