"""Result sets: any mix of result files, as the runs and benchmark files that compare reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from linreg.errors import ResultSetError
from linreg.json_types import Fingerprint
from linreg.results import kinds
from linreg.results.bench_file import BenchFile
from linreg.results.load import load_result
from linreg.results.noise_floor import NoiseFloor
from linreg.results.walk import expand
from linreg.run import Run


@dataclass(frozen=True)
class RunChoice:
    """The run a set means by a label that several of its runs share: the newest."""

    label: str
    path: Path  # the run taken: its folder, or its file where it is not a run folder's run.json
    runs: int  # how many runs of the label the set held

    def describe(self, role: str) -> str:
        return f"{role}: {self.label}: the newest of {self.runs} runs, {self.path}"


@dataclass
class ResultSet:
    """Runs keyed by a label, the benchmark files, and the fingerprints, from one path.

    Where several runs share a label (a folder of run folders trained again and again), the set
    holds the newest, as a folder of benchmark sessions means its newest session, and ``choices``
    says which it took.
    """

    source: str
    runs: dict[str, Run] = field(default_factory=dict)
    choices: list[RunChoice] = field(default_factory=list)
    bench_files: list[BenchFile] = field(default_factory=list)
    noise_floors: list[NoiseFloor] = field(default_factory=list)  # oldest first
    environments: list[Fingerprint] = field(default_factory=list)

    def noise_floor(self, machine: str) -> NoiseFloor | None:
        """The newest noise floor measured on ``machine``, if the set holds one."""
        found = [n for n in self.noise_floors if n.machine == machine]
        return found[-1] if found else None

    @property
    def environment(self) -> Fingerprint:
        return self.environments[0] if self.environments else {}


def run_label(run: Run) -> str:
    """What identifies a run across machines: its config without the device."""
    c = run.config
    parts = [c.engine, c.dtype, f"seed{c.seed}", f"threads{c.threads or 'all'}"]
    default = type(c)()
    named = ("lr", "epochs", "samples", "loss", "tf32", "deterministic", "optimizer", "momentum")
    for name in named:
        if getattr(c, name) != getattr(default, name):
            parts.append(f"{name}{getattr(c, name)}")
    return "-".join(parts)


def load_result_set(path: str | Path) -> ResultSet:
    """A run folder, run.json, repro result set, pytest-benchmark JSON, or a folder holding any
    of them. In a folder, files of other kinds (manifests, sweeps) are passed over."""
    path = Path(path)
    if path.is_dir() and (path / kinds.RUN_FILE).is_file():
        path = path / kinds.RUN_FILE
    files = expand(path)
    if not files:
        raise ResultSetError(f"{path}: holds no result files (*.json)")
    result = ResultSet(source=str(path))
    found: dict[str, list[tuple[int, Path, Run]]] = {}
    for order, file in enumerate(files):
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
            origin = _origin(file, loaded.kind)
            found.setdefault(run_label(loaded.value), []).append((order, origin, loaded.value))
    for label, runs in found.items():
        _, origin, run = max(runs, key=_age)
        result.runs[label] = run
        # The fingerprint of the runs compared, not of the ones passed over.
        result.environments.append(run.environment)
        origins = {o for _, o, _ in runs}
        if len(origins) > 1:
            result.choices.append(RunChoice(label, origin, len(origins)))
    if not result.runs and not result.bench_files:
        raise ResultSetError(f"{path}: holds no linreg runs or pytest-benchmark files")
    return result


def newest_runs(runs: Sequence[tuple[Path, Run]]) -> dict[str, Run]:
    """Runs already loaded, in walk order, by label: of several sharing a label the newest, as
    load_result_set picks it."""
    found: dict[str, list[tuple[int, Path, Run]]] = {}
    for order, (path, run) in enumerate(runs):
        found.setdefault(run_label(run), []).append((order, path, run))
    return {label: max(runs, key=_age)[2] for label, runs in found.items()}


def _age(found: tuple[int, Path, Run]) -> tuple[bool, str, int]:
    """Newer sorts later: a record's own stamp where it has one (records written before runs
    were stamped are older than any stamped one), else its place in the walk, whose sorted order
    is time order for run folders named by linreg (results/runs/<UTC stamp>-...)."""
    order, _, run = found
    return run.created is not None, run.created or "", order


def _origin(file: Path, kind: str) -> Path:
    """What a record is named by: its run folder; for a repro run, its repro set
    (<set>/<copy>/<config id>.json), whose two copies of a config are one run asked twice, not
    two runs to choose between."""
    if kind == kinds.REPRO_RUN:
        return file.parent.parent
    return file.parent if file.name == kinds.RUN_FILE else file
