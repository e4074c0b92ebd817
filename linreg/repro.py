"""The repro matrix: determinism, consistency, golden references and checkpoint round trips.

Each config is trained twice, in two separate worker processes (``linreg.repro_worker``), and
every Run is written atomically as it finishes under ``results/repro/<id>/``. The checks run on
the finished files, so an interrupted run keeps what it finished and ``resume`` completes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linreg.checkpoint import load_checkpoint, save_checkpoint
from linreg.compare import (
    DEFAULT_OUTCOME_STEPS,
    REQUIREMENTS,
    Comparison,
    compare_runs,
    meets,
)
from linreg.config import TrainConfig
from linreg.errors import ConfigError, LinregError, OutputError, ResultSetError
from linreg.numerics import available_devices, resolve_device
from linreg.paths import REFERENCE_DIR
from linreg.repro_worker import run_file
from linreg.resultset import REPRO_KIND
from linreg.run import SCHEMA_VERSION, Run
from linreg.state import state_dict_hash, state_from_json
from linreg.store import dumps, read_json, write_json_new
from linreg.tolerance import Tolerances, default_tolerances

DEFAULT_REPRO_ROOT = Path("results/repro")
DEFAULT_REFERENCE_DIR = REFERENCE_DIR
MANIFEST = "manifest.json"
CHECKS = "checks.json"
COPIES = ("first", "second")

# Which level each kind of pair must reach (see linreg.compare for the levels).
DEFAULT_REQUIREMENTS = {
    "determinism": "a",  # the same config on the same stack, in another process
    "threads": "b-horizon",
    "device": "b-horizon",
    "engine": "b-horizon",
    "dtype": "c",
    "golden": "b",
}


class ReproError(LinregError):
    """A repro run could not be carried out (a worker failed, a resume does not match)."""


@dataclass(frozen=True)
class ReproMatrix:
    """The axes of a repro run; ``threads`` None means torch's default ("all")."""

    devices: tuple[str, ...]
    dtypes: tuple[str, ...] = ("float32", "float64")
    seeds: tuple[int, ...] = (0, 1, 42)
    threads: tuple[int | None, ...] = (1, None)
    engines: tuple[str, ...] = ("eager",)
    base: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def default(cls, base: TrainConfig | None = None) -> ReproMatrix:
        return cls(devices=tuple(available_devices()), base=base or TrainConfig())

    def configs(self) -> list[TrainConfig]:
        """Every config of the matrix, plus each seed's float64 CPU eager reference."""
        seen: dict[str, TrainConfig] = {}
        for seed in self.seeds:
            for config in [self.reference(seed)] + [
                self.base.replace(
                    device=device, dtype=dtype, seed=seed, threads=threads, engine=engine
                )
                for device in self.devices
                for dtype in self.dtypes
                for threads in self.threads
                for engine in self.engines
            ]:
                seen.setdefault(config.config_id, config)
        return list(seen.values())

    def reference(self, seed: int) -> TrainConfig:
        return self.base.replace(
            device="cpu", dtype="float64", seed=seed, threads=1, engine="eager"
        )

    def twin(self, config: TrainConfig) -> TrainConfig:
        """The CPU, one-thread, eager run of the same dtype and seed: what other stacks face."""
        return config.replace(device="cpu", threads=1, engine="eager")

    def to_dict(self) -> dict[str, Any]:
        return {
            "devices": list(self.devices),
            "dtypes": list(self.dtypes),
            "seeds": list(self.seeds),
            "threads": list(self.threads),
            "engines": list(self.engines),
            "base": self.base.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReproMatrix:
        return cls(
            devices=tuple(data["devices"]),
            dtypes=tuple(data["dtypes"]),
            seeds=tuple(data["seeds"]),
            threads=tuple(data["threads"]),
            engines=tuple(data["engines"]),
            base=TrainConfig.from_dict(data["base"]),
        )

    @property
    def matrix_id(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


def label(config: TrainConfig) -> str:
    return (
        f"{config.device} {config.dtype} seed {config.seed} "
        f"threads {config.threads or 'all'} {config.engine}"
    )


def reference_name(config: TrainConfig) -> str:
    """The golden reference's file name: device kind, dtype, seed, threads, engine.

    Not the rest of the config: a run whose lr or data changed must meet the reference and fail
    against it, with the config difference named.
    """
    device = config.device.split(":")[0]
    threads = config.threads or "all"
    return f"{device}-{config.dtype}-seed{config.seed}-threads{threads}-{config.engine}.json"


@dataclass(frozen=True)
class Check:
    """One check's outcome: what was compared with what, the required level, and the figures."""

    kind: str  # determinism, consistency, golden, checkpoint
    pair: str  # the kind of pair deciding the requirement (determinism, dtype, threads, ...)
    subject: str
    against: str
    required: str
    holds: bool
    reason: str
    comparison: Comparison | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "pair": self.pair,
            "subject": self.subject,
            "against": self.against,
            "required": self.required,
            "holds": self.holds,
            "reason": self.reason,
            "comparison": self.comparison.to_dict() if self.comparison else None,
        }


@dataclass(frozen=True)
class ReferenceChange:
    name: str
    status: str  # new, unchanged, changed
    detail: str


@dataclass(frozen=True)
class ReproReport:
    result_dir: Path
    matrix: ReproMatrix
    runs: dict[str, Run]
    checks: list[Check]
    reference_changes: list[ReferenceChange] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(check.holds for check in self.checks)

    @property
    def golden_coverage(self) -> tuple[int, int]:
        """(runs checked against a golden reference, runs)."""
        return sum(c.kind == "golden" for c in self.checks), len(self.runs)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.holds]


ProgressCallback = Callable[[int, int], None]


def parse_requirements(items: list[str]) -> dict[str, str]:
    """``["threads=c", "golden=a"]`` over the defaults."""
    out = dict(DEFAULT_REQUIREMENTS)
    for item in items:
        pair, sep, level = item.partition("=")
        if not sep or pair not in DEFAULT_REQUIREMENTS or level not in REQUIREMENTS:
            raise ConfigError(
                "require",
                f"expected PAIR=LEVEL with PAIR one of {', '.join(DEFAULT_REQUIREMENTS)} "
                f"and LEVEL one of {', '.join(REQUIREMENTS)}; got {item!r}",
            )
        out[pair] = level
    return out


def start_result_dir(matrix: ReproMatrix, root: Path) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    result_dir = root / f"{stamp}-{matrix.matrix_id}"
    write_json_new(
        result_dir / MANIFEST,
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "repro-manifest",
            "matrix": matrix.to_dict(),
            "stack": _stack(),
        },
    )
    return result_dir


def _stack() -> dict[str, Any]:
    """What must not change between the start of a run and its resumption."""
    import platform

    import torch

    return {"python": platform.python_version(), "torch": torch.__version__}


def open_for_resume(result_dir: Path) -> ReproMatrix:
    """The matrix of an interrupted run; refuses one made with another stack."""
    manifest = read_json(result_dir / MANIFEST)
    if manifest.get("kind") != "repro-manifest":
        raise ResultSetError(f"{result_dir / MANIFEST}: not a repro manifest")
    if manifest.get("stack") != _stack():
        raise ReproError(
            f"{result_dir}: started with {manifest.get('stack')}, this is {_stack()}; "
            "a resumed run must not mix two stacks, start a new one"
        )
    if (result_dir / CHECKS).exists():
        raise ReproError(f"{result_dir}: already finished ({CHECKS} exists); nothing to resume")
    for stale in result_dir.rglob(".*.partial"):
        stale.unlink()  # a temp file of a killed worker: never a result
    try:
        return ReproMatrix.from_dict(manifest["matrix"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultSetError(f"{result_dir / MANIFEST}: malformed manifest ({exc})") from exc


def run_matrix(
    matrix: ReproMatrix, result_dir: Path, on_progress: ProgressCallback | None = None
) -> dict[str, tuple[Run, Run]]:
    """Train every config twice, in two worker processes running side by side."""
    configs = matrix.configs()
    dirs = [result_dir / copy for copy in COPIES]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    config_list = result_dir / ".configs.json"
    config_list.write_text(dumps({"configs": [c.to_dict() for c in configs]}))
    total = 2 * len(configs)
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "linreg.repro_worker", str(config_list), str(d)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d in dirs
    ]
    try:
        while True:
            done = sum(run_file(d, c).exists() for d in dirs for c in configs)
            if on_progress:
                on_progress(done, total)
            if all(w.poll() is not None for w in workers):
                break
            time.sleep(0.2)
    except BaseException:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait()
        raise
    for copy, w in zip(COPIES, workers, strict=True):
        err = w.stderr.read() if w.stderr else ""
        if w.returncode != 0:
            last = err.strip().splitlines()[-1] if err.strip() else f"exit code {w.returncode}"
            raise ReproError(f"the {copy} worker failed: {last}")
    return {
        c.config_id: (_load(run_file(dirs[0], c)), _load(run_file(dirs[1], c))) for c in configs
    }


def _load(path: Path) -> Run:
    data = read_json(path)
    if data.get("kind") != REPRO_KIND:
        raise ResultSetError(f"{path}: not a repro run record")
    return Run.from_dict(data)


def check_pairs(
    matrix: ReproMatrix,
    runs: dict[str, tuple[Run, Run]],
    tolerances: Tolerances,
    requirements: dict[str, str],
    reference_dir: Path | None,
    outcome_steps: int = DEFAULT_OUTCOME_STEPS,
) -> list[Check]:
    checks: list[Check] = []
    first = {cid: pair[0] for cid, pair in runs.items()}

    def compare(a: Run, b: Run) -> Comparison:
        return compare_runs(a, b, tolerances, label(a.config), label(b.config), outcome_steps)

    for config in matrix.configs():
        run, twin_run = runs[config.config_id]
        c = compare(twin_run, run)
        verdict = meets(c, requirements["determinism"])
        checks.append(
            Check("determinism", "determinism", label(config), "its run in another process",
                  requirements["determinism"], verdict.holds, verdict.reason, c)
        )  # fmt: skip
        checks.append(_checkpoint_check(run))

    horizons: dict[str, int | None] = {}
    for config in matrix.configs():
        reference = matrix.reference(config.seed)
        if config == reference:
            continue
        run, ref = first[config.config_id], first[reference.config_id]
        twin = matrix.twin(config)
        pair = _pair_kind(config, twin)
        c = compare(run, ref)
        if pair == "dtype":
            horizons[config.config_id] = c.horizon
        targets = [(ref, c)]
        if pair != "dtype" and twin.config_id in first and twin != reference:
            targets.append((first[twin.config_id], compare(run, first[twin.config_id])))
        for against, comparison in targets:
            ref_horizon = _twin_horizon(twin, reference, first, compare, horizons)
            verdict = meets(comparison, requirements[pair], ref_horizon)
            checks.append(
                Check("consistency", pair, label(config), label(against.config),
                      requirements[pair], verdict.holds, verdict.reason, comparison)
            )  # fmt: skip

    if reference_dir is not None:
        for config in matrix.configs():
            checks.extend(golden_check(first[config.config_id], reference_dir, tolerances,
                                        requirements["golden"], outcome_steps))  # fmt: skip
    return checks


def _pair_kind(config: TrainConfig, twin: TrainConfig) -> str:
    if config.device.split(":")[0] != twin.device:
        return "device"
    if config.engine != twin.engine:
        return "engine"
    if config.threads != twin.threads:
        return "threads"
    return "dtype"


def _twin_horizon(twin, reference, first, compare, horizons) -> int | None:
    """How long the CPU one-thread run of this dtype agrees with the float64 reference."""
    if twin == reference:
        return None
    if twin.config_id not in horizons:
        if twin.config_id not in first:
            return None
        horizons[twin.config_id] = compare(
            first[twin.config_id], first[reference.config_id]
        ).horizon
    return horizons[twin.config_id]


def _checkpoint_check(run: Run) -> Check:
    """The saved parameters reload, through torch.save/torch.load, to the same content hash."""
    state = state_from_json(run.final_state)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(state, Path(tmp) / "model.pth")
        reloaded = state_dict_hash(load_checkpoint(path))
    holds = reloaded == run.state_hash
    reason = "same content hash" if holds else f"hash {reloaded[:12]} != {run.state_hash[:12]}"
    return Check("checkpoint", "checkpoint", label(run.config), "its saved checkpoint", "a",
                 holds, reason)  # fmt: skip


def load_reference(path: Path) -> Run:
    data = read_json(path)
    try:
        return Run.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultSetError(f"{path}: malformed reference ({exc})") from exc


def golden_check(
    run: Run,
    reference_dir: Path,
    tolerances: Tolerances,
    required: str = DEFAULT_REQUIREMENTS["golden"],
    outcome_steps: int = DEFAULT_OUTCOME_STEPS,
) -> list[Check]:
    """The run against its committed reference; no check where there is no reference."""
    path = reference_dir / reference_name(run.config)
    if not path.exists():
        return []
    reference = load_reference(path)
    try:
        c = compare_runs(run, reference, tolerances, label(run.config), str(path), outcome_steps)
    except ValueError as exc:
        return [Check("golden", "golden", label(run.config), str(path), required, False,
                      str(exc))]  # fmt: skip
    verdict = meets(c, required)
    reason = verdict.reason
    if c.config_diff:
        reason += "; config differs: " + ", ".join(
            f"{k} {a!r} vs {b!r}" for k, (a, b) in c.config_diff.items()
        )
    return [Check("golden", "golden", label(run.config), str(path), required, verdict.holds,
                  reason, c)]  # fmt: skip


def reference_record(run: Run) -> dict[str, Any]:
    """A Run record without torch's build text (long, and in the environment diff anyway)."""
    record = run.to_dict()
    record["kind"] = "run"
    record["environment"] = {k: v for k, v in run.environment.items() if k != "torch_config"}
    return record


def update_references(
    runs: list[Run], reference_dir: Path, tolerances: Tolerances
) -> list[ReferenceChange]:
    """Write each run as the golden reference of its config; say what changes."""
    changes = []
    reference_dir.mkdir(parents=True, exist_ok=True)
    for run in runs:
        path = reference_dir / reference_name(run.config)
        if path.exists():
            old = load_reference(path)
            c = compare_runs(run, old, tolerances, "new", "old")
            if c.level == "a":
                changes.append(ReferenceChange(path.name, "unchanged", "bit-identical"))
                continue
            detail = (
                f"level {c.level}; first differing epoch {c.divergence.bitwise}; "
                f"weight {old.final_weight!r} -> {run.final_weight!r}"
            )
            changes.append(ReferenceChange(path.name, "changed", detail))
        else:
            changes.append(ReferenceChange(path.name, "new", f"weight {run.final_weight!r}"))
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=reference_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(dumps(reference_record(run)))
            os.replace(tmp, path)  # the one place results are replaced: on explicit request
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return changes


def repro(
    matrix: ReproMatrix,
    results_root: Path = DEFAULT_REPRO_ROOT,
    resume: Path | None = None,
    tolerances: Tolerances | None = None,
    requirements: dict[str, str] | None = None,
    reference_dir: Path | None = DEFAULT_REFERENCE_DIR,
    update_reference: bool = False,
    outcome_steps: int = DEFAULT_OUTCOME_STEPS,
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[Path], None] | None = None,
) -> ReproReport:
    """Run the matrix (or finish an interrupted run), check it, write checks.json."""
    started = time.perf_counter()
    tolerances = tolerances or default_tolerances()
    requirements = requirements or dict(DEFAULT_REQUIREMENTS)
    if resume is not None:
        matrix = open_for_resume(resume)
    if reference_dir is not None and not update_reference and not reference_dir.is_dir():
        # A golden check against nothing would pass: say so instead.
        raise ConfigError("reference_dir", f"{reference_dir}: no such folder of golden references")
    for device in matrix.devices:
        resolve_device(device)  # refuse a missing device before any worker starts
    if resume is not None:
        result_dir = resume
    else:
        try:
            result_dir = start_result_dir(matrix, results_root)
        except OSError as exc:
            raise OutputError(f"{results_root}: cannot be written ({exc})") from exc
    if on_start is not None:
        on_start(result_dir)
    runs = run_matrix(matrix, result_dir, on_progress)
    golden_dir = None if update_reference else reference_dir
    checks = check_pairs(matrix, runs, tolerances, requirements, golden_dir, outcome_steps)
    changes = []
    if update_reference and reference_dir is not None:
        changes = update_references([r for r, _ in runs.values()], reference_dir, tolerances)
    seconds = time.perf_counter() - started
    write_json_new(
        result_dir / CHECKS,
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "repro-checks",
            "ok": all(c.holds for c in checks),
            "seconds": seconds,
            "tolerances": tolerances.to_dict(),
            "requirements": requirements,
            "checks": [c.to_dict() for c in checks],
            "reference_changes": [vars(c) for c in changes],
        },
    )
    return ReproReport(
        result_dir=result_dir,
        matrix=matrix,
        runs={cid: pair[0] for cid, pair in runs.items()},
        checks=checks,
        reference_changes=changes,
        seconds=seconds,
    )
