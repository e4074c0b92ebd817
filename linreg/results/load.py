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
from linreg.json_types import JsonObject
from linreg.results import job_steps, kinds, noise_floor, speed_verdict
from linreg.results.ab_result import AbResult
from linreg.results.bench_file import BenchFile
from linreg.results.files import read_json
from linreg.results.gpu_run_summary import GpuRunSummary
from linreg.results.job_steps import JobRecord
from linreg.results.noise_floor import NoiseFloor
from linreg.results.repro_checks import ReproChecks
from linreg.results.speed_verdict import SpeedVerdict
from linreg.results.sweep_record import Sweep
from linreg.results.target_repro_checks import TargetReproChecks
from linreg.run import Run
from linreg.target_run import TargetRun

T = TypeVar("T")
# Each kind's upgrade from an older schema version (kinds.OLDER_READABLE) to the current one.
_UPGRADES: dict[str, Callable[[JsonObject, int], JsonObject]] = {
    kinds.SPEED_VERDICT: speed_verdict.upgrade,
    kinds.MAIN_JOB: job_steps.upgrade,
    kinds.NOISE_FLOOR: noise_floor.upgrade,
}
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
    kinds.TARGET_RUN: "target run record",
    kinds.TARGET_REPRO_MANIFEST: "target repro manifest",
    kinds.TARGET_REPRO_CHECKS: "target repro checks file",
    kinds.TARGET_RESUME_POINT: "target resume point",
    kinds.TARGET_RESUMED: "resumed target run",
    kinds.BENCH: "pytest-benchmark file",
}


def load(path: str | Path, accept: tuple[str, ...], build: Callable[[JsonObject], T]) -> T:
    """Read ``path``, check that it is one of the ``accept`` kinds at a schema version this linreg
    reads, and build it; any failure is one ResultSetError naming the file."""
    path = Path(path)
    return _build(path, read_json(path), accept, build)


def _build(
    path: Path, data: JsonObject, accept: tuple[str, ...], build: Callable[[JsonObject], T]
) -> T:
    kind = kinds.kind_of(data)
    if kind not in accept:
        wanted = " or ".join(_NAMES[k] for k in accept)
        found = f"kind {data.get('kind')!r}" if "kind" in data else "no kind"
        raise ResultSetError(f"{path}: not a {wanted} ({found})")
    version = data.get("schema_version")
    readable = (kinds.SCHEMA_VERSIONS.get(kind), *kinds.OLDER_READABLE.get(kind, ()))
    if kind != kinds.BENCH and version not in readable:
        raise ResultSetError(
            f"{path}: {kind} schema_version {version!r}; this linreg reads "
            f"{kinds.SCHEMA_VERSIONS[kind]} (written by another version of linreg)"
        )
    try:
        if kind in _UPGRADES and version != kinds.SCHEMA_VERSIONS[kind]:
            data = _UPGRADES[kind](data, version)
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
    return path / kinds.RUN_FILE if path.is_dir() else path


def load_run(path: str | Path) -> Run:
    """A Run from a run folder, its run.json, a repro run record or a golden reference."""
    return load(run_file(path), kinds.RUN_KINDS, Run.from_dict)


def load_target_run(path: str | Path) -> TargetRun:
    """A TargetRun from a target's run folder or its run.json."""
    return load(run_file(path), (kinds.TARGET_RUN,), TargetRun.from_dict)


def load_sweep(path: str | Path) -> Sweep:
    return load(path, (kinds.SWEEP,), Sweep.from_dict)


def load_bench(path: str | Path) -> BenchFile:
    return load(path, (kinds.BENCH,), lambda data: BenchFile.from_dict(Path(path), data))


def load_checks(path: str | Path) -> ReproChecks:
    """A repro set's checks.json."""
    return load(path, (kinds.REPRO_CHECKS,), ReproChecks.from_dict)


def load_target_checks(path: str | Path) -> TargetReproChecks:
    """A target's repro set's checks.json."""
    return load(path, (kinds.TARGET_REPRO_CHECKS,), TargetReproChecks.from_dict)


def load_speed_verdict(path: str | Path) -> SpeedVerdict:
    """The regression gate's verdict: candidate against reference, with each case's evidence."""
    return load(path, (kinds.SPEED_VERDICT,), SpeedVerdict.from_dict)


@dataclass(frozen=True)
class LoadedResult:
    """One result file of any kind: ``value`` is its record (a Run, TargetRun, Sweep, BenchFile,
    ReproChecks, TargetReproChecks, SpeedVerdict, AbResult, JobRecord, GpuRunSummary, NoiseFloor),
    or for a repro set's manifest and a resume point their parsed JSON."""

    path: Path
    kind: str
    value: Any


_BUILDERS: dict[str, Callable[[Path, JsonObject], Any]] = {
    kinds.RUN: lambda path, data: Run.from_dict(data),
    kinds.REPRO_RUN: lambda path, data: Run.from_dict(data),
    kinds.SWEEP: lambda path, data: Sweep.from_dict(data),
    kinds.BENCH: BenchFile.from_dict,
    kinds.REPRO_CHECKS: lambda path, data: ReproChecks.from_dict(data),
    kinds.REPRO_MANIFEST: lambda path, data: data,
    kinds.NOISE_FLOOR: lambda path, data: NoiseFloor.from_dict(data),
    kinds.SPEED_VERDICT: lambda path, data: SpeedVerdict.from_dict(data),
    kinds.AB: lambda path, data: AbResult.from_dict(data),
    kinds.MAIN_JOB: lambda path, data: JobRecord.from_dict(data),
    kinds.GPU_RUN: lambda path, data: GpuRunSummary.from_dict(data),
    # The resume check's own files (linreg.suites.repro_resume reads them in full).
    kinds.REPRO_RESUME_POINT: lambda path, data: data,
    kinds.REPRO_RESUMED: lambda path, data: Run.from_dict(data),
    kinds.TARGET_RUN: lambda path, data: TargetRun.from_dict(data),
    kinds.TARGET_REPRO_MANIFEST: lambda path, data: data,
    kinds.TARGET_REPRO_CHECKS: lambda path, data: TargetReproChecks.from_dict(data),
    # The target resume check's own files (linreg.suites.target_repro reads them in full).
    kinds.TARGET_RESUME_POINT: lambda path, data: data,
    kinds.TARGET_RESUMED: lambda path, data: TargetRun.from_dict(data),
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
