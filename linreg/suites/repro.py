"""The repro matrix: determinism, consistency, golden references and checkpoint round trips.

Each config is trained twice, in two separate worker processes (``linreg.suites.repro_worker``), and
every Run is written atomically as it finishes under ``results/repro/<id>/``. The checks run on
the finished files, so an interrupted run keeps what it finished and ``resume`` completes it.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from linreg.compare.first_difference import history_difference, replay_epoch
from linreg.compare.pair_rule import pair_kind
from linreg.compare.resume import first_missing_piece
from linreg.compare.runs import DEFAULT_OUTCOME_STEPS, compare_runs, meets
from linreg.errors import ConfigError, LinregError, OutputError
from linreg.numerics import resolve_device
from linreg.results import kinds
from linreg.results.checkpoint import load_checkpoint, save_checkpoint
from linreg.results.files import remove_temp_files, write_json_new
from linreg.results.load import LoadedResult, load, load_run
from linreg.results.references import find_reference, reference_path, write_reference
from linreg.results.repro_checks import ReferenceChange, ReproCheck, ReproChecks
from linreg.results.run_comparison import Comparison
from linreg.results.walk import result_files
from linreg.run import Run
from linreg.state import state_dict_hash, state_from_json
from linreg.suites.replay import ReplayError, ReplayPair, replay
from linreg.suites.replay_sides import SideRunner
from linreg.suites.repro_copies import CopyWorkers, trained_copies
from linreg.suites.repro_options import (
    DEFAULT_REQUIREMENTS,
    ReproMatrix,
    ReproOptions,
    default_repro_root,
    differing_options,
    label,
    said,
)
from linreg.suites.repro_resume import (
    RESUME_DIR,
    load_resumption,
    resumed_file,
    write_resume_list,
)
from linreg.suites.repro_worker import CONFIG_LIST, run_file
from linreg.tolerance import Tolerances


class ReproError(LinregError):
    """A repro run could not be carried out (a worker failed, a resume does not match)."""


@dataclass(frozen=True)
class ReproReport:
    result_dir: Path
    options: ReproOptions
    runs: dict[str, Run]
    checks: list[ReproCheck]
    reference_changes: list[ReferenceChange] = field(default_factory=list)
    seconds: float = 0.0
    # Combinations of axes an engine cannot train: (run, why), left out of the matrix.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    loaded: tuple[LoadedResult, ...] = ()  # the set's records, as the report reads them

    @property
    def ok(self) -> bool:
        return all(check.holds for check in self.checks)

    @property
    def golden_coverage(self) -> tuple[int, int]:
        """(runs checked against a golden reference, runs)."""
        return sum(c.kind == "golden" for c in self.checks), len(self.runs)

    @property
    def failures(self) -> list[ReproCheck]:
        return [c for c in self.checks if not c.holds]


ProgressCallback = Callable[[int, int], None]


def _stack() -> dict[str, Any]:
    """What must not change between the start of a run and its resumption."""
    import platform

    import torch

    return {"python": platform.python_version(), "torch": torch.__version__}


def start_result_dir(options: ReproOptions, root: Path) -> Path:
    result_dir = root / f"{kinds.utc_stamp()}-{options.matrix.matrix_id}"
    body = {"options": options.to_dict(), "stack": _stack()}
    write_json_new(
        result_dir / kinds.REPRO_MANIFEST_FILE, kinds.envelope(kinds.REPRO_MANIFEST, body)
    )
    return result_dir


def open_for_resume(result_dir: Path) -> ReproOptions:
    """The options of an interrupted run; refuses one made with another stack."""
    stack, options = load(
        result_dir / kinds.REPRO_MANIFEST_FILE,
        (kinds.REPRO_MANIFEST,),
        lambda data: (data["stack"], ReproOptions.from_dict(data["options"])),
    )
    if stack != _stack():
        raise ReproError(
            f"{result_dir}: started with {stack}, this is {_stack()}; "
            "a resumed run must not mix two stacks, start a new one"
        )
    if (result_dir / kinds.REPRO_CHECKS_FILE).exists():
        raise ReproError(
            f"{result_dir}: already finished ({kinds.REPRO_CHECKS_FILE} exists); nothing to resume"
        )
    remove_temp_files(result_dir)  # a killed worker's: never a result
    for copy in kinds.REPRO_COPIES:
        # What the workers will skip must be a whole record: refuse a bad one before any work.
        for path in result_files(result_dir / copy):
            load_run(path)
    return options


def _check_same_options(
    result_dir: Path, stored: ReproOptions, asked: ReproOptions, given: Collection[str]
) -> None:
    differing = differing_options(stored, asked, given)
    if differing:
        parts = [
            f"--{name.replace('_', '-')} {said(was)} (given {said(now)})"
            for name, (was, now) in differing.items()
        ]
        raise ConfigError(
            "resume",
            f"{result_dir} was started with {'; '.join(parts)}: a resumed run keeps the options "
            "it was started with; drop these or give them as they were",
        )


@contextlib.contextmanager
def trained_matrix(
    matrix: ReproMatrix, result_dir: Path, on_progress: ProgressCallback | None = None
) -> Iterator[tuple[dict[str, tuple[Run, Run]], tuple[SideRunner, SideRunner]]]:
    """Train every config twice, in two worker processes running side by side; the first also
    stops the resume check's runs half-way, and the second, before it trains anything, finishes
    them (``linreg.suites.repro_resume``). Yields both copies' runs, and the two copies' workers as
    the two sides of a replay (``explain_checks``): each waits, torch warm, for its side's jobs
    until the block ends.

    Whatever stops this (an error, Ctrl-C, SIGTERM, a worker that fails) stops the workers before
    it returns (``linreg.suites.repro_copies``).
    """
    configs = matrix.configs()
    dirs = [result_dir / copy for copy in kinds.REPRO_COPIES]
    config_list = result_dir / CONFIG_LIST
    if not config_list.exists():
        write_json_new(config_list, {"configs": [c.to_dict() for c in configs]})
    resumes = matrix.resume_configs()
    resume_dir = result_dir / RESUME_DIR
    write_resume_list(resumes, resume_dir)

    def resumed() -> int:
        return sum(resumed_file(resume_dir, c).exists() for c in resumes)

    resume = (resume_dir, lambda: resumed() == len(resumes)) if resumes else None
    plan = CopyWorkers("linreg.suites.repro_worker", config_list,
                       dict(zip(kinds.REPRO_COPIES, dirs, strict=True)), resume)  # fmt: skip
    total = 2 * len(configs) + len(resumes)

    def done() -> int:
        return sum(run_file(d, c).exists() for d in dirs for c in configs) + resumed()

    def failure(name: str, last: str) -> Exception:
        return ReproError(f"the {name} worker failed: {last}")

    with trained_copies(plan, done, total, on_progress, failure, ReplayError) as sides:
        runs = {
            c.config_id: (load_run(run_file(dirs[0], c)), load_run(run_file(dirs[1], c)))
            for c in configs
        }
        yield runs, sides


def check_pairs(
    matrix: ReproMatrix,
    runs: dict[str, tuple[Run, Run]],
    tolerances: Tolerances,
    requirements: dict[str, str],
    reference_dir: Path | None,
    outcome_steps: int = DEFAULT_OUTCOME_STEPS,
    replay_sides: tuple[SideRunner, SideRunner] | None = None,
) -> list[ReproCheck]:
    """The matrix's checks, each pair that is not bit-identical explained (``explain_checks``,
    replayed on ``replay_sides`` where given)."""
    checks: list[ReproCheck] = []
    first = {cid: pair[0] for cid, pair in runs.items()}

    def compare(candidate: Run, reference: Run) -> Comparison:
        return compare_runs(candidate, reference, tolerances, label(candidate.config),
                            label(reference.config), outcome_steps)  # fmt: skip

    horizons: dict[str, int | None] = {}
    for config in matrix.configs():
        run, twin_run = runs[config.config_id]
        c = compare(twin_run, run)
        # A run allowed nondeterministic algorithms is not asked for the same bits in another
        # process, only for what its deterministic twin is asked of against float64.
        pair = "determinism" if config.deterministic else "nondeterministic"
        ref_horizon = (
            None
            if config.deterministic
            else _twin_horizon(config.replace(deterministic=True),
                               matrix.reference(config.seed, config), first, compare, horizons)
        )  # fmt: skip
        verdict = meets(c, requirements[pair], ref_horizon)
        checks.append(
            ReproCheck("determinism", pair, label(config), "its run in another process",
                  requirements[pair], verdict.holds, verdict.reason, c)
        )  # fmt: skip
        checks.append(_checkpoint_check(run))

    for config in matrix.configs():
        reference = matrix.reference(config.seed, config)
        if config == reference:
            continue
        run, ref = first[config.config_id], first[reference.config_id]
        twin = matrix.twin(config)
        # Named by what differs from the reference, as linreg compare names a pair.
        pair = pair_kind(config, reference)
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
                ReproCheck("consistency", pair, label(config), label(against.config),
                      requirements[pair], verdict.holds, verdict.reason, comparison)
            )  # fmt: skip

    if reference_dir is not None:
        for config in matrix.configs():
            checks.extend(golden_check(first[config.config_id], reference_dir, tolerances,
                                        requirements["golden"], outcome_steps))  # fmt: skip
    return explain_checks(checks, runs, tolerances, replay_sides)


def explain_checks(
    checks: list[ReproCheck],
    runs: dict[str, tuple[Run, Run]],
    tolerances: Tolerances,
    replay_sides: tuple[SideRunner, SideRunner] | None = None,
) -> list[ReproCheck]:
    """Each check whose pair is not bit-identical, with the reason it parts: both configs
    replayed to the epoch their histories name, one process a side; a golden pair, whose
    reference cannot be replayed, from the histories."""
    by_label = {label(pair[0].config): pair[0] for pair in runs.values()}
    pairs, where = [], []
    explained = list(checks)
    for index, check in enumerate(checks):
        c = check.comparison
        if c is None or c.level == "a":
            continue
        if check.kind == "golden" or check.explanation is not None:
            continue  # a stored reference is explained from the histories (golden_check)
        candidate = by_label.get(check.subject)
        reference = candidate if check.kind == "determinism" else by_label.get(check.against)
        if candidate is None or reference is None:
            continue
        until = replay_epoch(c, candidate.config.epochs)
        if until is None:
            continue
        pairs.append(ReplayPair(candidate.config, reference.config, until, c.tolerance))
        where.append(index)
    for index, found in zip(where, replay(pairs, sides=replay_sides), strict=True):
        explained[index] = replace(checks[index], explanation=found.record())
    return explained


def _twin_horizon(twin, reference, first, compare, horizons) -> int | None:
    """How long the twin (by default the CPU one-thread eager run of this dtype) agrees with the
    float64 reference."""
    if twin == reference:
        return None
    if twin.config_id not in horizons:
        if twin.config_id not in first:
            return None
        horizons[twin.config_id] = compare(
            first[twin.config_id], first[reference.config_id]
        ).horizon
    return horizons[twin.config_id]


def resume_checks(
    matrix: ReproMatrix,
    runs: dict[str, tuple[Run, Run]],
    result_dir: Path,
    tolerances: Tolerances,
    outcome_steps: int = DEFAULT_OUTCOME_STEPS,
) -> list[ReproCheck]:
    """Each run stopped half-way and finished in a fresh process against its uninterrupted run:
    first the state the fresh process restored, piece by piece, against the state the stopped
    run had at that epoch; then the finished run, which must be bit-identical (level a)."""
    checks = []
    for config in matrix.resume_configs():
        resumed = load_resumption(result_dir / RESUME_DIR, config)
        uninterrupted = runs[config.config_id][0]
        c = compare_runs(resumed.run, uninterrupted, tolerances, "resumed", label(config),
                         outcome_steps)  # fmt: skip
        verdict = meets(c, "a")
        missing = first_missing_piece(resumed.restored, resumed.expected)
        if missing is None:
            holds = verdict.holds
            reason = f"{verdict.reason}; every piece of state restored at epoch {resumed.epoch}"
        else:
            holds = False
            reason = f"at epoch {resumed.epoch}: {missing}; the finished run: {verdict.reason}"
        checks.append(ReproCheck("resume", "resume", label(config), "its uninterrupted run", "a",
                            holds, reason, c))  # fmt: skip
    return checks


def _checkpoint_check(run: Run) -> ReproCheck:
    """The saved parameters reload, through torch.save/torch.load, to the same content hash."""
    state = state_from_json(run.final_state)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(state, Path(tmp) / "model.pth")
        reloaded = state_dict_hash(load_checkpoint(path))
    holds = reloaded == run.state_hash
    reason = "same content hash" if holds else f"hash {reloaded[:12]} != {run.state_hash[:12]}"
    return ReproCheck("checkpoint", "checkpoint", label(run.config), "its saved checkpoint", "a",
                 holds, reason)  # fmt: skip


def golden_check(
    run: Run,
    reference_dir: Path,
    tolerances: Tolerances,
    required: str = DEFAULT_REQUIREMENTS["golden"],
    outcome_steps: int = DEFAULT_OUTCOME_STEPS,
) -> list[ReproCheck]:
    """The run against the committed reference of its config; no check where there is none."""
    reference = find_reference(reference_dir, run.config)
    if reference is None:
        return []
    path = str(reference_path(reference_dir, run.config))
    try:
        c = compare_runs(run, reference, tolerances, label(run.config), path, outcome_steps)
    except ValueError as exc:
        return [ReproCheck("golden", "golden", label(run.config), path, required, False, str(exc))]
    verdict = meets(c, required)
    found = history_difference(run, reference) if c.level != "a" else None
    return [ReproCheck("golden", "golden", label(run.config), path, required, verdict.holds,
                  verdict.reason, c, found and found.record())]  # fmt: skip


def update_references(
    runs: list[Run], reference_dir: Path, tolerances: Tolerances
) -> list[ReferenceChange]:
    """Write each run as the golden reference of its config; say what changes."""
    changes = []
    for run in runs:
        path = reference_path(reference_dir, run.config)
        old = find_reference(reference_dir, run.config)
        if old is None:
            changes.append(ReferenceChange(path.name, "new", f"weight {run.final_weight!r}"))
        else:
            c = compare_runs(run, old, tolerances, "new", "old")
            if c.level == "a":
                changes.append(ReferenceChange(path.name, "unchanged", "bit-identical"))
                continue
            detail = (
                f"level {c.level}; first differing epoch {c.divergence.bitwise}; "
                f"weight {old.final_weight!r} -> {run.final_weight!r}"
            )
            changes.append(ReferenceChange(path.name, "changed", detail))
        write_reference(reference_dir, run)
    return changes


def check_before_work(options: ReproOptions) -> None:
    """What can be refused before any worker starts: missing references, missing devices."""
    reference_dir = options.reference_dir
    if reference_dir is not None and not options.update_reference and not reference_dir.is_dir():
        # A golden check against nothing would pass: say so instead.
        raise ConfigError("reference_dir", f"{reference_dir}: no such folder of golden references")
    for device in options.matrix.devices:
        resolve_device(device)


def repro(
    options: ReproOptions,
    results_root: Path | None = None,
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[Path], None] | None = None,
) -> ReproReport:
    """Run the matrix in a new result set under ``results_root``, check it, write checks.json."""
    started = time.perf_counter()
    check_before_work(options)
    try:
        results_root = default_repro_root() if results_root is None else results_root
        result_dir = start_result_dir(options, results_root)
    except OSError as exc:
        raise OutputError(f"{results_root}: cannot be written ({exc})") from exc
    return _finish(options, result_dir, started, on_progress, on_start)


def resume_repro(
    result_dir: Path,
    asked: ReproOptions | None = None,
    given: Collection[str] = (),
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[Path], None] | None = None,
) -> ReproReport:
    """Finish an interrupted result set with the options it was started with. ``asked`` are
    the options given again (a command line repeated with --resume) and ``given`` names those
    that were (see OPTION_PARTS): each must be what the run was started with."""
    started = time.perf_counter()
    options = open_for_resume(result_dir)
    if asked is not None:
        _check_same_options(result_dir, options, asked, given)
    check_before_work(options)
    return _finish(options, result_dir, started, on_progress, on_start)


def _finish(
    options: ReproOptions,
    result_dir: Path,
    started: float,
    on_progress: ProgressCallback | None,
    on_start: Callable[[Path], None] | None,
) -> ReproReport:
    """Train what the result set lacks, check every pair, write checks.json."""
    if on_start is not None:
        on_start(result_dir)
    matrix = options.matrix
    with trained_matrix(matrix, result_dir, on_progress) as (runs, sides):
        checks = check_pairs(matrix, runs, options.tolerances, options.requirements,
                             options.golden_dir, options.outcome_steps, sides)  # fmt: skip
    checks += resume_checks(matrix, runs, result_dir, options.tolerances, options.outcome_steps)
    skipped = [(label(c), reason) for c, reason in matrix.skipped()]
    changes = []
    if options.update_reference and options.reference_dir is not None:
        changes = update_references(
            [r for r, _ in runs.values()], options.reference_dir, options.tolerances
        )
    seconds = time.perf_counter() - started
    record = ReproChecks(tuple(checks), options.to_dict(), seconds, tuple(skipped),
                         tuple(changes))  # fmt: skip
    checks_path = write_json_new(
        result_dir / kinds.REPRO_CHECKS_FILE, kinds.envelope(kinds.REPRO_CHECKS, record.to_dict())
    )
    # What the set holds, as the report reads it: its manifest, both copies of every run and
    # its checks (a job hands these on rather than reading the folder again).
    loaded = [LoadedResult(result_dir / kinds.REPRO_MANIFEST_FILE, kinds.REPRO_MANIFEST, {})]
    for config in matrix.configs():
        for copy, run in zip(kinds.REPRO_COPIES, runs[config.config_id], strict=True):
            loaded.append(LoadedResult(run_file(result_dir / copy, config), kinds.REPRO_RUN, run))
    loaded.append(LoadedResult(checks_path, kinds.REPRO_CHECKS, record))
    return ReproReport(
        result_dir=result_dir,
        options=options,
        runs={cid: pair[0] for cid, pair in runs.items()},
        checks=checks,
        reference_changes=changes,
        seconds=seconds,
        skipped=skipped,
        loaded=tuple(loaded),
    )
