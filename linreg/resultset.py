"""Result sets: every kind of result linreg reads, loaded into runs and benchmark rounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linreg.errors import ResultSetError
from linreg.run import Run
from linreg.store import RUN_JSON, read_json

REPRO_KIND = "repro-run"


@dataclass
class ResultSet:
    """Runs keyed by a label, benchmark rounds (seconds) keyed by case, and the fingerprints."""

    source: str
    runs: dict[str, Run] = field(default_factory=dict)
    timings: dict[str, list[float]] = field(default_factory=dict)
    environments: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: ResultSet) -> None:
        for label, run in other.runs.items():
            self.runs.setdefault(label, run)
        for case, rounds in other.timings.items():
            self.timings.setdefault(case, rounds)
        self.environments.extend(other.environments)

    @property
    def environment(self) -> dict[str, Any]:
        return self.environments[0] if self.environments else {}


def run_label(run: Run) -> str:
    """What identifies a run across machines: its config without the device."""
    c = run.config
    parts = [c.engine, c.dtype, f"seed{c.seed}", f"threads{c.threads or 'all'}"]
    default = type(c)()
    for name in ("lr", "epochs", "samples", "loss"):
        if getattr(c, name) != getattr(default, name):
            parts.append(f"{name}{getattr(c, name)}")
    return "-".join(parts)


def load_result_set(path: str | Path) -> ResultSet:
    """A run folder, run.json, repro result folder or file, pytest-benchmark JSON, or a folder
    holding any of them."""
    path = Path(path)
    if not path.exists():
        raise ResultSetError(f"{path}: no such file or folder")
    if path.is_file():
        return _load_file(path)
    if (path / RUN_JSON).is_file():
        return _load_file(path / RUN_JSON)
    files = sorted(p for p in path.rglob("*.json") if not p.name.startswith("."))
    if not files:
        raise ResultSetError(f"{path}: holds no result files (*.json)")
    result = ResultSet(source=str(path))
    for file in files:
        loaded = _load_file(file, skip_unknown=True)
        if loaded is not None:
            result.merge(loaded)
    if not result.runs and not result.timings:
        raise ResultSetError(f"{path}: holds no linreg runs or pytest-benchmark files")
    return result


def _load_file(path: Path, skip_unknown: bool = False) -> ResultSet | None:
    data = read_json(path)
    if "benchmarks" in data and "machine_info" in data:
        return _from_benchmark(path, data)
    if data.get("kind") in ("run", REPRO_KIND):
        try:
            run = Run.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultSetError(f"{path}: malformed run record ({exc})") from exc
        return ResultSet(
            source=str(path), runs={run_label(run): run}, environments=[run.environment]
        )
    if skip_unknown:
        return None
    raise ResultSetError(
        f"{path}: not a linreg run, repro result or pytest-benchmark file "
        "(expected kind='run' or top-level 'benchmarks' and 'machine_info')"
    )


def _from_benchmark(path: Path, data: dict[str, Any]) -> ResultSet:
    timings = {}
    for bench in data.get("benchmarks") or []:
        try:
            name = bench["fullname"]
            rounds = [float(v) for v in bench["stats"]["data"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultSetError(
                f"{path}: benchmark without raw rounds (stats.data); save with "
                f"--benchmark-save-data ({exc!r})"
            ) from exc
        timings[name] = rounds
    machine = data.get("machine_info") or {}
    if not isinstance(machine, dict) or not isinstance(data.get("benchmarks") or [], list):
        raise ResultSetError(f"{path}: malformed pytest-benchmark file (machine_info, benchmarks)")
    environment = machine.get("linreg_environment") or machine
    return ResultSet(source=str(path), timings=timings, environments=[environment])
