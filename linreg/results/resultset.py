"""Result sets: any mix of result files, as the runs and benchmark files that compare reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linreg.errors import ResultSetError
from linreg.results import kinds
from linreg.results.bench_file import BenchFile
from linreg.results.load import RUN_JSON, load_result
from linreg.results.noise_floor import NoiseFloor
from linreg.results.walk import expand
from linreg.run import Run


@dataclass
class ResultSet:
    """Runs keyed by a label, the benchmark files, and the fingerprints, from one path."""

    source: str
    runs: dict[str, Run] = field(default_factory=dict)
    bench_files: list[BenchFile] = field(default_factory=list)
    noise_floors: list[NoiseFloor] = field(default_factory=list)  # oldest first
    environments: list[dict[str, Any]] = field(default_factory=list)

    def noise_floor(self, machine: str) -> NoiseFloor | None:
        """The newest noise floor measured on ``machine``, if the set holds one."""
        found = [n for n in self.noise_floors if n.machine == machine]
        return found[-1] if found else None

    @property
    def environment(self) -> dict[str, Any]:
        return self.environments[0] if self.environments else {}


def run_label(run: Run) -> str:
    """What identifies a run across machines: its config without the device."""
    c = run.config
    parts = [c.engine, c.dtype, f"seed{c.seed}", f"threads{c.threads or 'all'}"]
    default = type(c)()
    for name in ("lr", "epochs", "samples", "loss", "tf32", "deterministic"):
        if getattr(c, name) != getattr(default, name):
            parts.append(f"{name}{getattr(c, name)}")
    return "-".join(parts)


def load_result_set(path: str | Path) -> ResultSet:
    """A run folder, run.json, repro result set, pytest-benchmark JSON, or a folder holding any
    of them. In a folder, files of other kinds (manifests, sweeps) are passed over."""
    path = Path(path)
    if path.is_dir() and (path / RUN_JSON).is_file():
        path = path / RUN_JSON
    files = expand(path)
    if not files:
        raise ResultSetError(f"{path}: holds no result files (*.json)")
    result = ResultSet(source=str(path))
    for file in files:
        loaded = load_result(file)
        if loaded is not None and loaded.kind == kinds.NOISE_FLOOR:
            result.noise_floors.append(loaded.value)
            continue
        if loaded is None or loaded.kind not in (*kinds.RUN_KINDS, kinds.BENCH):
            if path.is_file():
                raise ResultSetError(
                    f"{file}: not a linreg run, repro result or pytest-benchmark file"
                )
            continue
        if loaded.kind == kinds.BENCH:
            result.bench_files.append(loaded.value)
            result.environments.append(loaded.value.environment)
        else:
            run = loaded.value
            result.runs.setdefault(run_label(run), run)
            result.environments.append(run.environment)
    if not result.runs and not result.bench_files:
        raise ResultSetError(f"{path}: holds no linreg runs or pytest-benchmark files")
    return result
