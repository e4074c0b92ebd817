"""A target's repro matrix: determinism, consistency against float64, and resume.

Each config is trained twice, in two worker processes (``linreg.suites.target_repro_worker``),
each run folder (run.json, history.csv, model.pth) written whole as it finishes under
``<results>/repro/<id>/first/`` and ``second/``. The checks run on the finished folders, so an
interrupted set keeps what it finished and ``linreg repro --resume`` completes it:

- **determinism**: the two copies of a config bit-identical (every loss, every tensor's digest),
  else "nondeterministic: <the first differing quantity> at step N", found by replaying both;
  a target that declares its nondeterminism is said to be so, never passed;
- **consistency**: each dtype's CPU one-thread eager run (its twin) within the dtype's tolerance
  of the float64 run by RMS error, quantity by quantity; every other run no further from float64
  than ``fp64_multiplier`` times its twin's error plus the tolerance
  (``linreg.compare.target_numerics``); a pair of dtypes is replayed to name the first quantity
  beyond the tolerance, a failing pair of one dtype to name the first that differs;
- **resume**: per seed, the first run stopped half-way and finished in a fresh process: every
  piece of state restored, then the finished run bit for bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import platform
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linreg.compare.target_numerics import record_difference, run_figures, worst
from linreg.compare.target_resume import first_differing_piece
from linreg.engines.target_observe import quantity_words
from linreg.errors import ConfigError, LinregError, OutputError, TrainingDiverged
from linreg.numerics import resolve_device
from linreg.results import kinds
from linreg.results.checkpoint import load_checkpoint
from linreg.results.files import TEMP_SUFFIX, read_json, remove_temp_files, write_json_new
from linreg.results.load import load, load_target_run
from linreg.results.target_repro_checks import (
    QuantityFigures,
    TargetDifference,
    TargetReproCheck,
    TargetReproChecks,
)
from linreg.suites.replay_sides import SideRunner
from linreg.suites.repro_copies import CopyWorkers, trained_copies
from linreg.suites.repro_options import default_repro_root
from linreg.suites.repro_resume import RESUME_DIR, RESUME_LIST, resumed_file
from linreg.suites.target_replay import (
    TargetReplayError,
    TargetReplayPair,
    bitwise_pair,
    replay,
    tolerance_pair,
)
from linreg.suites.target_repro_options import TargetReproOptions, label
from linreg.suites.target_repro_resume import (
    load_resumption,
    resume_step,
    write_config_list,
)
from linreg.suites.target_repro_worker import CONFIG_LIST, run_folder
from linreg.target import Target
from linreg.target_config import TargetConfig
from linreg.target_loading import load_target
from linreg.target_run import TargetRun

COPIES = ("first", "second")
ProgressCallback = Callable[[int, int], None]
Runs = dict[str, tuple[TargetRun, TargetRun]]


class TargetReproError(LinregError):
    """A target's repro run could not be carried out (a worker failed, a resume that does not
    fit the set)."""


class WorkerDiverged(TrainingDiverged):
    """A run of the matrix went NaN or infinite in a worker: a failing check, exit 1."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)


@dataclass(frozen=True)
class TargetReproReport:
    result_dir: Path
    record: TargetReproChecks

    @property
    def checks(self) -> tuple[TargetReproCheck, ...]:
        return self.record.checks

    @property
    def ok(self) -> bool:
        return self.record.ok

    @property
    def failures(self) -> list[TargetReproCheck]:
        return self.record.failures


def _stack() -> dict[str, Any]:
    """What must not change between the start of a set and its resumption."""
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__}


def is_target_set(result_dir: Path) -> bool:
    """Whether ``result_dir`` is a target's repro set (its manifest says so)."""
    manifest = result_dir / kinds.REPRO_MANIFEST_FILE
    if not manifest.is_file():
        return False
    try:
        return kinds.kind_of(read_json(manifest)) == kinds.TARGET_REPRO_MANIFEST
    except LinregError:
        return False


def check_before_work(options: TargetReproOptions, target: Target) -> None:
    """What can be refused before any worker starts: an axis value the target does not
    declare, a size it does not have, a device not present."""
    matrix = options.matrix
    if matrix.size not in target.sizes:
        raise ConfigError(
            "size",
            f"{target.target_name()} has no size {matrix.size!r} (it has "
            f"{', '.join(target.sizes)})",
        )
    for axis, values, declared in (
        ("dtypes", matrix.dtypes, target.dtypes),
        ("devices", [d.split(":")[0] for d in matrix.devices], target.devices),
        ("engines", matrix.engines, target.engines),
    ):
        for value in values:
            if value not in declared:
                raise ConfigError(
                    axis,
                    f"{target.target_name()} declares no {axis[:-1]} "
                    f"{value!r} (it declares {', '.join(declared)})",
                )
    for device in matrix.devices:
        resolve_device(device)


def start_result_dir(options: TargetReproOptions, root: Path) -> Path:
    name = options.matrix.target.name
    result_dir = root / f"{kinds.utc_stamp()}-{name}-{options.matrix.matrix_id}"
    body = {"options": options.to_dict(), "stack": _stack()}
    write_json_new(
        result_dir / kinds.REPRO_MANIFEST_FILE, kinds.envelope(kinds.TARGET_REPRO_MANIFEST, body)
    )
    return result_dir


def open_for_resume(result_dir: Path) -> tuple[TargetReproOptions, Target]:
    """The options of an interrupted set and its target; refuses one made with another stack
    or whose target's code changed since."""
    stack, options = load(
        result_dir / kinds.REPRO_MANIFEST_FILE,
        (kinds.TARGET_REPRO_MANIFEST,),
        lambda data: (data["stack"], TargetReproOptions.from_dict(data["options"])),
    )
    if stack != _stack():
        raise TargetReproError(
            f"{result_dir}: started with {stack}, this is {_stack()}; a "
            "resumed set must not mix two stacks, start a new one"
        )
    if (result_dir / kinds.REPRO_CHECKS_FILE).exists():
        raise TargetReproError(
            f"{result_dir}: already finished ({kinds.REPRO_CHECKS_FILE} exists); nothing to resume"
        )
    ref = options.matrix.target
    target, found = load_target(ref.spec)
    if found.code_hash != ref.code_hash:
        raise TargetReproError(
            f"{result_dir}: the target {ref.spec} changed since the set was "
            f"started (code {found.short_hash}, the set's {ref.short_hash}); "
            "start a new one"
        )
    _remove_partial(result_dir)
    for copy in COPIES:
        # What the workers will skip must be a whole record: refuse a bad one before any work.
        for folder in sorted((result_dir / copy).glob("*")):
            if not folder.name.startswith("."):
                load_target_run(folder)
    return options, target


def _remove_partial(result_dir: Path) -> None:
    """What killed writes left: temp files, and run folders staged but never renamed."""
    remove_temp_files(result_dir)
    for staged in result_dir.rglob(f".*{TEMP_SUFFIX}"):
        if staged.is_dir():
            shutil.rmtree(staged, ignore_errors=True)


@contextlib.contextmanager
def trained_target_matrix(
    configs: list[TargetConfig],
    resumes: list[TargetConfig],
    result_dir: Path,
    on_progress: ProgressCallback | None = None,
) -> Iterator[tuple[Runs, tuple[SideRunner, SideRunner]]]:
    """Train every config twice, in two worker processes side by side; the first also stops
    the resume check's runs half-way, and the second, before it trains anything, finishes them.
    Yields both copies' runs, and the two copies' workers as the two sides of a replay
    (``linreg.suites.replay_sides``), waiting for their jobs until the block ends.

    Whatever stops this (an error, Ctrl-C, SIGTERM, a worker that fails) stops the workers
    before it returns, and each worker removes what it was writing.
    """
    dirs = [result_dir / copy for copy in COPIES]
    config_list = result_dir / CONFIG_LIST
    write_config_list(config_list, configs)
    resume_dir = result_dir / RESUME_DIR
    if resumes:
        write_config_list(resume_dir / RESUME_LIST, resumes)

    def resumed() -> int:
        return sum(resumed_file(resume_dir, c).exists() for c in resumes)

    resume = (resume_dir, lambda: resumed() == len(resumes)) if resumes else None
    plan = CopyWorkers("linreg.suites.target_repro_worker", config_list,
                       dict(zip(COPIES, dirs, strict=True)), resume)  # fmt: skip
    total = 2 * len(configs) + len(resumes)

    def done() -> int:
        return sum(run_folder(d, c).exists() for d in dirs for c in configs) + resumed()

    with trained_copies(plan, done, total, on_progress, _failure, TargetReplayError) as sides:
        runs = {
            c.config_id: (
                load_target_run(run_folder(dirs[0], c)),
                load_target_run(run_folder(dirs[1], c)),
            )
            for c in configs
        }
        yield runs, sides


def _failure(name: str, last: str) -> Exception:
    if "training diverged" in last:
        return WorkerDiverged(f"the {name} worker: {last.partition(': ')[2]}")
    return TargetReproError(f"the {name} worker failed: {last}")


class _States:
    """The final state (model.pth) of each config's first copy, read once."""

    def __init__(self, result_dir: Path) -> None:
        self.folder = result_dir / COPIES[0]
        self.loaded: dict[str, dict] = {}

    def __getitem__(self, config: TargetConfig) -> dict:
        if config.config_id not in self.loaded:
            path = run_folder(self.folder, config) / "model.pth"
            self.loaded[config.config_id] = load_checkpoint(path)
        return self.loaded[config.config_id]


def _pair_kind(config: TargetConfig, twin: TargetConfig) -> str:
    if config.device.split(":")[0] != twin.device:
        return "device"
    if config.engine != twin.engine:
        return "engine"
    if config.threads != twin.threads:
        return "threads"
    return "dtype"


def determinism_checks(
    configs: list[TargetConfig], runs: Runs, declared: tuple[str, ...]
) -> list[TargetReproCheck]:
    """Each config's two copies, by their records."""
    checks = []
    for config in configs:
        first, second = runs[config.config_id]
        found = record_difference(second, first)
        against = "its run in another process"
        if found is None:
            checks.append(
                TargetReproCheck(
                    "determinism",
                    "determinism",
                    label(config),
                    against,
                    "holds",
                    "bit-identical: every loss and every tensor's digest",
                )
            )
            continue
        where = found[0] + ("" if found[1] is None else f" at step {found[1]}")
        reason, status = _nondeterministic(where, declared), "declared" if declared else "fails"
        checks.append(
            TargetReproCheck("determinism", "determinism", label(config), against, status, reason)
        )
    return checks


def consistency_checks(
    options: TargetReproOptions, configs: list[TargetConfig], runs: Runs, states: _States
) -> tuple[list[TargetReproCheck], list[tuple[str, str]]]:
    """Each run against the float64 reference of its seed; the reasons some could not be."""
    matrix = options.matrix
    trained = {c.config_id for c in configs}
    checks, skipped = [], []
    for config in configs:
        reference = matrix.reference(config.seed)
        if config == reference:
            continue
        if reference.config_id not in trained:
            skipped.append(
                (
                    label(config),
                    "consistency: the float64 CPU eager reference is not "
                    "trained (the target does not declare it)",
                )
            )
            continue
        twin = matrix.twin(config)
        tolerance = options.tolerances.for_dtype(config.dtype)
        run, ref = runs[config.config_id][0], runs[reference.config_id][0]
        if config == twin:
            pair, twin_part = "dtype", None
        elif twin.config_id not in trained:
            skipped.append(
                (
                    label(config),
                    "consistency: its CPU one-thread eager twin is not "
                    "trained (the target does not declare it)",
                )
            )
            continue
        else:
            pair, twin_part = _pair_kind(config, twin), (runs[twin.config_id][0], states[twin])
        quantities = run_figures(
            run,
            states[config],
            ref,
            states[reference],
            tolerance,
            twin_part,
            options.fp64_multiplier,
        )
        failing = [q for q in quantities if not q.holds]
        against = (
            label(reference) if twin_part is None else f"{label(reference)} (twin: {label(twin)})"
        )
        checks.append(
            TargetReproCheck(
                "consistency",
                pair,
                label(config),
                against,
                "fails" if failing else "holds",
                _consistency_reason(quantities, failing, config.dtype, options.fp64_multiplier),
                tuple(quantities),
            )
        )
    return checks, skipped


def _consistency_reason(
    quantities: list[QuantityFigures], failing: list[QuantityFigures], dtype: str, multiplier: float
) -> str:
    if quantities and quantities[0].rule == "rms":
        rule = f"RMS error within {dtype}'s tolerance of float64"
    else:
        rule = f"within {multiplier:g}x its twin's RMS error to float64 plus {dtype}'s tolerance"
    if failing:
        q = failing[0]
        return (
            f"{len(failing)} of {len(quantities)} quantities beyond the bound ({rule}); "
            f"first: {_figure(q)}"
        )
    nearest = worst(quantities)
    tail = "" if nearest is None else f"; nearest its bound: {_figure(nearest)}"
    return f"all {len(quantities)} quantities hold ({rule}){tail}"


def _figure(q: QuantityFigures) -> str:
    if q.error is None or q.allowed is None:
        return f"{q.quantity} ({q.note})"
    relative = "" if q.relative is None else f", relative {q.relative:.3g}"
    twin = "" if q.twin_error is None else f", twin's {q.twin_error:.3g}"
    return f"{q.quantity} RMSE {q.error:.3g}{relative}{twin}, allowed {q.allowed:.3g}"


def resume_checks(
    resumes: list[TargetConfig], runs: Runs, result_dir: Path
) -> list[TargetReproCheck]:
    """Each run stopped half-way and finished in a fresh process against its uninterrupted run:
    first the state restored, piece by piece; then the finished run, bit for bit."""
    checks = []
    for config in resumes:
        resumed = load_resumption(result_dir / RESUME_DIR, config)
        missing = first_differing_piece(resumed.restored, resumed.expected)
        found = record_difference(resumed.run, runs[config.config_id][0])
        finished = (
            "the finished run bit for bit"
            if found is None
            else f"the finished run differs first in {found[0]}"
            + ("" if found[1] is None else f" at step {found[1]}")
        )
        if missing is None:
            reason = f"every piece of state restored at step {resumed.step}; {finished}"
        else:
            reason = f"at step {resumed.step}: {missing}; {finished}"
        status = "holds" if missing is None and found is None else "fails"
        checks.append(
            TargetReproCheck(
                "resume", "resume", label(config), "its uninterrupted run", status, reason
            )
        )
    return checks


def explain_checks(
    checks: list[TargetReproCheck],
    configs: list[TargetConfig],
    runs: Runs,
    options: TargetReproOptions,
    declared: tuple[str, ...],
    replay_sides: tuple[SideRunner, SideRunner] | None = None,
) -> list[TargetReproCheck]:
    """Where pairs part, each side replayed in a process of its own: a nondeterministic
    config's two copies (the first quantity whose bits differ), each dtype's twin against
    float64 (the first quantity beyond the dtype's tolerance), and a failing run against its
    twin of the same dtype (the first whose bits differ)."""
    matrix = options.matrix
    by_label = {label(c): c for c in configs}
    pairs: list[TargetReplayPair] = []
    where: list[int] = []
    for index, check in enumerate(checks):
        config = by_label.get(check.subject)
        if config is None:
            continue
        run = runs[config.config_id][0]
        if check.kind == "determinism" and check.status != "holds":
            pairs.append(bitwise_pair(runs[config.config_id][1], run))
        elif check.kind == "consistency" and check.pair == "dtype":
            reference = runs[matrix.reference(config.seed).config_id][0]
            tolerance = options.tolerances.for_dtype(config.dtype)
            pairs.append(tolerance_pair(run, reference, tolerance))
        elif check.kind == "consistency" and check.fails:
            pairs.append(bitwise_pair(run, runs[matrix.twin(config).config_id][0]))
        else:
            continue
        where.append(index)
    explained = list(checks)
    for index, found in zip(where, replay(pairs, sides=replay_sides), strict=True):
        explained[index] = _with_difference(checks[index], found, declared)
    return explained


def _with_difference(
    check: TargetReproCheck, found: TargetDifference, declared: tuple[str, ...]
) -> TargetReproCheck:
    """The check with the replay's finding; a determinism check's reason then names the
    quantity and step where the two copies part."""
    if check.kind != "determinism" or found.step is None or found.quantity is None:
        return dataclasses.replace(check, difference=found)
    figures = (
        "" if found.ulps is None else f" (by {found.ulps} ULP, max abs diff {found.max_abs:.6g})"
    )
    where = f"{quantity_words(found.quantity)} at step {found.step}{figures}"
    return dataclasses.replace(check, reason=_nondeterministic(where, declared), difference=found)


def _nondeterministic(where: str, declared: tuple[str, ...]) -> str:
    if declared:
        return f"declared nondeterministic ({'; '.join(declared)}): differs first in {where}"
    return f"nondeterministic: {where}"


def target_repro(
    options: TargetReproOptions,
    target: Target,
    results_root: Path | None = None,
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[Path], None] | None = None,
) -> TargetReproReport:
    """Run the matrix in a new result set under ``results_root``, check it, write checks.json."""
    started = time.perf_counter()
    check_before_work(options, target)
    try:
        results_root = default_repro_root() if results_root is None else results_root
        result_dir = start_result_dir(options, results_root)
    except OSError as exc:
        raise OutputError(f"{results_root}: cannot be written ({exc})") from exc
    return _finish(options, target, result_dir, started, on_progress, on_start)


def resume_target_repro(
    result_dir: Path,
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[Path], None] | None = None,
) -> TargetReproReport:
    """Finish an interrupted target set with the options it was started with."""
    started = time.perf_counter()
    options, target = open_for_resume(result_dir)
    check_before_work(options, target)
    return _finish(options, target, result_dir, started, on_progress, on_start)


def _finish(options, target, result_dir, started, on_progress, on_start) -> TargetReproReport:
    if on_start is not None:
        on_start(result_dir)
    matrix = options.matrix
    configs = matrix.configs(target)
    resumes = matrix.resume_configs(target) if resume_step(matrix.base()) >= 1 else []
    with trained_target_matrix(configs, resumes, result_dir, on_progress) as (runs, sides):
        checks = determinism_checks(configs, runs, tuple(target.nondeterministic))
        consistency, skipped_here = consistency_checks(options, configs, runs, _States(result_dir))
        checks += consistency
        checks += resume_checks(resumes, runs, result_dir)
        checks = explain_checks(checks, configs, runs, options, tuple(target.nondeterministic),
                                sides)  # fmt: skip
    skipped = [(label(c), why) for c, why in matrix.skipped(target)] + skipped_here
    if not resumes:
        skipped.append(("resume", f"a run of {matrix.steps} step has no half-way step to stop at"))
    record = TargetReproChecks(
        matrix.target,
        tuple(checks),
        options.to_dict(),
        time.perf_counter() - started,
        tuple(skipped),
    )
    write_json_new(
        result_dir / kinds.REPRO_CHECKS_FILE,
        kinds.envelope(kinds.TARGET_REPRO_CHECKS, record.to_dict()),
    )
    return TargetReproReport(result_dir, record)
