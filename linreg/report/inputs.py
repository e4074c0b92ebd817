"""What the report draws, loaded from result files through the one walker and loader."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from linreg.config import TrainConfig
from linreg.errors import ConfigError, ResultSetError
from linreg.json_types import Fingerprint
from linreg.machine import default_machine_name
from linreg.report.checks import repro_pairs
from linreg.report.comparisons import Plan, comparison_plan
from linreg.report.environment import with_cpuinfo
from linreg.report.frames import bench_frame
from linreg.report.run_pairs import RunPair, given_run_pairs
from linreg.report.speed import labelled, speed_ratios
from linreg.results import kinds
from linreg.results.ab_result import AbResult
from linreg.results.bench_file import BenchFile
from linreg.results.job_steps import JobStep
from linreg.results.load import LoadedResult, load_result
from linreg.results.repro_checks import ReproCheck
from linreg.results.speed_verdict import SpeedVerdict
from linreg.results.sweep_record import Sweep
from linreg.results.walk import expand
from linreg.run import Run


@dataclass
class ReportInputs:
    """Everything the report draws, already loaded from disk."""

    runs: list[tuple[str, Run]] = field(default_factory=list)
    train_runs: set[str] = field(default_factory=set)  # labels of runs from `linreg train`
    bench: pd.DataFrame | None = None  # one row per series and case, labelled
    plan: Plan = field(default_factory=Plan)  # which series are compared and drawn
    ratios: pd.DataFrame | None = None  # the plan's time ratios
    checks: list[tuple[str, ReproCheck]] = field(default_factory=list)  # (repro set, check)
    repro_sets: dict[str, bool] = field(default_factory=dict)  # repro set -> has checks.json
    repro_folders: dict[str, Path] = field(default_factory=dict)  # repro set -> its folder
    sweeps: list[tuple[str, Sweep]] = field(default_factory=list)
    speed_verdicts: list[tuple[str, SpeedVerdict]] = field(default_factory=list)
    ab_results: list[tuple[Path, AbResult]] = field(default_factory=list)  # ab.json's
    job_steps: list[JobStep] = field(default_factory=list)  # linreg run's, if any
    environments: dict[str, Fingerprint] = field(default_factory=dict)  # machine / torch
    series_environments: dict[str, Fingerprint] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    # The runs of two sources given without a repro set, compared as `linreg compare` would.
    run_pairs: list[RunPair] = field(default_factory=list)

    @property
    def repro_pairs(self) -> pd.DataFrame:
        return repro_pairs(check for _, check in self.checks)

    @property
    def unfinished_repro(self) -> list[str]:
        """Repro sets whose manifest is here and whose checks.json is not: stopped runs."""
        return sorted(name for name, finished in self.repro_sets.items() if not finished)

    def machines(self) -> list[str]:
        """The machines measured or run on (committed baselines aside)."""
        if self.bench is not None and not self.bench.empty:
            measured = self.bench[~self.bench["baseline"]]
            names = measured["machine"] if not measured.empty else self.bench["machine"]
            return list(dict.fromkeys(names.astype(str)))
        return list(dict.fromkeys(label.split(" / ")[0] for label in self.environments))


def collect_inputs(paths: Sequence[str | Path]) -> ReportInputs:
    """Load every result the given files and folders hold (folders recursively, through the one
    walker): run records, repro sets, sweeps, speed verdicts and pytest-benchmark files.
    Anything else (JSON of other tools) is passed over."""
    loaded: list[LoadedResult] = []
    by_source = []
    for raw in paths:
        path = Path(raw)
        found = [r for r in map(load_result, expand(path)) if r is not None and r.kind in _DRAWN]
        if not found:
            raise ResultSetError(
                f"{path}: holds no linreg result (run, repro, sweep, speed verdict or benchmark)"
            )
        loaded += found
        by_source.append((str(path), found))
    inputs = inputs_from(loaded, [str(p) for p in paths])
    if not inputs.checks and not inputs.ab_results:
        # Two sources of runs and no repro set: what the report is asked is how they compare.
        inputs.run_pairs = given_run_pairs(by_source)
    return inputs


def inputs_from(loaded: Sequence[LoadedResult], sources: Sequence[str] = ()) -> ReportInputs:
    """What the report draws from results already loaded (a job hands on what it made)."""
    inputs = ReportInputs(sources=list(sources))
    bench_files: list[BenchFile] = []
    seen_runs: set[tuple[str, str]] = set()
    for result in loaded:
        _add_result(inputs, result, bench_files, seen_runs)
    _with_ab_speed_verdicts(inputs)
    if bench_files:
        inputs.bench = labelled(bench_frame(bench_files))
        judged = [(v.reference, v.candidate) for _, v in inputs.speed_verdicts]
        inputs.plan = comparison_plan(inputs.bench, judged)
        inputs.ratios = speed_ratios(inputs.bench, inputs.plan)
        environments = {str(f.path): _bench_environment(f) for f in bench_files}
        for series, file in inputs.bench.drop_duplicates("series")[["series", "file"]].values:
            inputs.series_environments[str(series)] = environments[str(file)]
    return inputs


def _with_ab_speed_verdicts(inputs: ReportInputs) -> None:
    """An A/B's speed verdict is in its ab.json and, where it judged, in speed-verdict.json
    beside it: one verdict, shown once."""
    for path, ab in inputs.ab_results:
        speed = ab.speed
        if speed is None:
            continue
        sides = (speed.reference, speed.candidate)
        if not any((v.reference, v.candidate) == sides for _, v in inputs.speed_verdicts):
            inputs.speed_verdicts.append((str(path), speed))


def _bench_environment(file: BenchFile) -> Fingerprint:
    return with_cpuinfo(file.environment, file.machine_info)


# The kinds the report draws; the resume check's own files, noise floors and gpu-run summaries
# are passed over.
_DRAWN = (kinds.BENCH, *kinds.RUN_KINDS, kinds.SWEEP, kinds.REPRO_CHECKS, kinds.REPRO_MANIFEST,
          kinds.AB, kinds.SPEED_VERDICT, kinds.MAIN_JOB)  # fmt: skip


def _add_result(
    inputs: ReportInputs,
    loaded: LoadedResult,
    bench_files: list[BenchFile],
    seen_runs: set[tuple[str, str]],
) -> None:
    """Add what one result file holds to ``inputs``."""
    kind, value = loaded.kind, loaded.value
    if kind == kinds.BENCH:
        bench_files.append(value)
        inputs.environments.setdefault(
            _machine_label(value.environment, value.machine), _bench_environment(value)
        )
    elif kind in kinds.RUN_KINDS:
        run = value
        if kind == kinds.RUN:
            inputs.train_runs.add(run_title(run))
        # A repro set holds each config twice (two processes); draw it once.
        if (run.config.config_id, run.state_hash) not in seen_runs:
            seen_runs.add((run.config.config_id, run.state_hash))
            inputs.runs.append((run_title(run), run))
            inputs.environments.setdefault(_machine_label(run.environment), run.environment)
    elif kind == kinds.SWEEP:
        inputs.sweeps.append((_sweep_label(value, loaded.path), value))
    elif kind == kinds.REPRO_CHECKS:
        name = _repro_set_name(inputs, loaded.path.parent)
        inputs.repro_sets[name] = True
        inputs.checks.extend((name, check) for check in value.checks)
    elif kind == kinds.REPRO_MANIFEST:
        inputs.repro_sets.setdefault(_repro_set_name(inputs, loaded.path.parent), False)
    elif kind == kinds.AB:
        inputs.ab_results.append((loaded.path, value))
    elif kind == kinds.SPEED_VERDICT:
        inputs.speed_verdicts.append((str(loaded.path), value))
    elif kind == kinds.MAIN_JOB:
        inputs.job_steps.extend(value.steps)


def _repro_set_name(inputs: ReportInputs, folder: Path) -> str:
    """A repro set's folder name, or as much of its path as tells it from another set of that
    name (the two sides of an A/B: reference/repro/<set>, candidate/repro/<set>)."""
    for name, known in inputs.repro_folders.items():
        if known == folder:
            return name
    parts = folder.parts
    for depth in range(1, len(parts) + 1):
        name = "/".join(parts[-depth:])
        if name not in inputs.repro_folders:
            break
    inputs.repro_folders[name] = folder
    return name


def run_title(run: Run) -> str:
    """'cpu float32 seed 42 threads all eager', as the repro checks name a run, plus any
    parameter that is not the tutorial's."""
    c = run.config
    words = [c.device, c.dtype, f"seed {c.seed}", f"threads {c.threads or 'all'}", c.engine]
    default = TrainConfig()
    words += [
        f"{name} {getattr(c, name)}"
        for name in ("lr", "epochs", "samples", "loss")
        if getattr(c, name) != getattr(default, name)
    ]
    return " ".join(words)


def _sweep_label(sweep: Sweep, file: Path) -> str:
    axes = f"{len(sweep.seeds)} seeds" + (f" × {len(sweep.lrs)} lrs" if len(sweep.lrs) > 1 else "")
    return f"{axes}, {sweep.config.dtype} on {sweep.config.device} ({file.name})"


def _machine_label(environment: Fingerprint, name: str | None = None) -> str:
    """One column per machine and torch: bench files and runs of one machine share it."""
    if name is None:
        try:
            name = default_machine_name(
                environment.get("cpu") or "",
                environment.get("cpu_count"),
                list(environment.get("gpus") or []),
            )
        except ConfigError:
            name = str(environment.get("cpu", "unknown"))
    return f"{name} / torch {environment.get('torch', '?')}"
