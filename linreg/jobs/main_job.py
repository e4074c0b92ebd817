"""`linreg run`, the main job: tutorial training, quick bench, repro check and the report.

Each step writes under one results folder and hands what it made on, loaded once: the report
is built from the job's own records (its runs, bench files, gate verdict, repro checks and
steps), not by reading the folder again.

The steps overlap where two cores allow: the bench's one Valgrind process (instruction
counts, the gate's evidence: most of the job's time) starts first and runs on one core while
the other trains, times the bench cases and runs the repro matrix. The timed cases share the
machine with Valgrind alone (not with training or the repro workers): their wall time is
information, and the counts do not depend on what else runs. The steps are recorded in their
usual order whatever order they finished in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from linreg import units
from linreg.config import TrainConfig
from linreg.jobs.steps import JobResult, Outcome, Step, StepCallback, first_failure, run_steps
from linreg.paths import BASELINES, INSTRUCTION_BASELINES
from linreg.results import kinds
from linreg.results.bench_file import BenchFile
from linreg.results.bench_sessions import BenchSession, newest_per_machine
from linreg.results.files import check_new_folder, write_json_new
from linreg.results.instruction_baselines import counted_cases, newest_instruction_baseline
from linreg.results.job_steps import FAILED, NOT_JUDGED, OK, JobRecord, JobStep
from linreg.results.load import LoadedResult, load_bench
from linreg.results.noise_floor import NoiseFloor
from linreg.results.resultset import load_result_set
from linreg.results.speed_verdict import SpeedVerdict
from linreg.results.walk import walk_key
from linreg.stack import current_stack_key, stack_key
from linreg.suites.bench_request import COUNT_VARIABLE
from linreg.suites.bench_runner import InstructionCounter

# The wall-time threshold of the main job's own verdict (instructions use their own, 3 %).
DEFAULT_THRESHOLD = 0.10


MainJobResult = JobResult  # the job's folder, steps and report


@dataclass
class _Made:
    """What the steps made so far, loaded once, for the steps after them and the report; for
    the bench step, the Valgrind process the job started for it and the event that stops it
    when the job is stopped."""

    loaded: list[LoadedResult] = field(default_factory=list)
    bench_files: list[BenchFile] = field(default_factory=list)
    report: Path | None = None
    counter: InstructionCounter | None = None
    stop: threading.Event | None = None


def _train_step(out: Path, devices: list[str], made: _Made) -> Outcome:
    from linreg.jobs.training import train_to_folder

    details = []
    for device in devices:
        outcome = train_to_folder(TrainConfig(device=device), out_dir=out / "runs" / device)
        run = outcome.run
        made.loaded.append(LoadedResult(outcome.folder / kinds.RUN_FILE, kinds.RUN, run))
        details.append(f"{device}: weight {run.final_weight:.6g}, bias {run.final_bias:.6g}")
    return Outcome(OK, "; ".join(details))


def _bench_step(
    out: Path, devices: list[str], baseline: BenchSession | None, made: _Made
) -> Outcome:
    from linreg.suites.bench_request import BenchRequest
    from linreg.suites.bench_runner import run_bench_suite
    from linreg.suites.bench_selection import parse_selection

    # The CI profile plus a short size sweep and the copy roofline, so the report can show where
    # time goes; 1e7 is left to `linreg bench`.
    selection = parse_selection(
        devices=",".join(devices),
        kinds="train,inference,epoch,copy",
        sizes="40,1000,100000,1000000",
        quick=True,
    )
    counted = _counted_names(baseline)
    request = BenchRequest(selection, instructions="yes" if counted else "no",
                           instructions_only=tuple(counted))  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    outcome = run_bench_suite(request, storage_root=out / "bench", log_path=out / "bench.log",
                              counter=made.counter, stop=made.stop)  # fmt: skip
    if outcome.problem:
        return Outcome(FAILED, f"{outcome.problem}; see {out / 'bench.log'}")
    if outcome.exit_code != 0 or not outcome.saved:
        return Outcome(FAILED, f"pytest exit {outcome.exit_code}; see {out / 'bench.log'}")
    for path in outcome.saved:
        file = load_bench(path)
        made.bench_files.append(file)
        made.loaded.append(LoadedResult(path, kinds.BENCH, file))
    train = [
        case
        for file in made.bench_files
        for case in file.cases
        if case.extra_info.get("kind") == "train"
    ]
    detail = ", ".join(
        f"{c.extra_info.get('device')} {c.extra_info.get('dtype')} "
        f"{units.seconds(float(c.extra_info['epoch_us']) * 1e-6)}/epoch"
        for c in train
        if isinstance(c.extra_info.get("epoch_us"), (int, float))
    )
    cases = sum(len(file.cases) for file in made.bench_files)
    return Outcome(OK, f"{cases} cases; {detail}")


def _counted_names(baseline: BenchSession | None) -> list[str]:
    """The cases the bench counts instructions of: just those this stack's newest baseline
    holds counts of (Valgrind's start-up with torch is most of the cost, each case adds its
    own); none where this stack has no baseline."""
    return sorted({name for f in (baseline.files if baseline else ()) for name in
                   counted_cases(f)})  # fmt: skip


def newest_baseline(machine: str, root: Path = BASELINES) -> BenchSession | None:
    """The machine's newest committed wall-time baseline session (results/baselines/<machine>/)."""
    return _wall_baseline(machine, root)[0]


def _wall_baseline(machine: str, root: Path) -> tuple[BenchSession | None, NoiseFloor | None]:
    """The machine's newest wall-time baseline session and the noise floor measured there,
    from one load of its folder."""
    folder = root / machine
    if not folder.is_dir():
        return None, None
    loaded = load_result_set(folder)
    found = [s for s in newest_per_machine(loaded.bench_files) if s.machine == machine]
    return (found[0], loaded.noise_floor(machine)) if found else (None, None)


def judge_run(
    bench_files: list[BenchFile],
    baselines: Path = BASELINES,
    instruction_baselines: Path = INSTRUCTION_BASELINES,
    baseline: BenchSession | None = None,
) -> SpeedVerdict | None:
    """This run's bench session against the newest instruction baseline of its own stack (the
    gate; ``baseline`` where it was loaded already), with wall time against its machine's
    newest baseline (information, unless a noise floor measured there lets it gate); None where
    the run stored no bench results."""
    from linreg.compare.speed import judge_sessions
    from linreg.compare.stack_gate import judge_stack

    if not bench_files:
        return None
    candidate = newest_per_machine(bench_files)[0]  # one run: one machine, one session
    key = stack_key(candidate.files[0].environment)
    reference = baseline or newest_instruction_baseline(key, instruction_baselines)
    machine = candidate.machine
    wall_reference, noise = _wall_baseline(machine, baselines)
    wall, wall_gates, wall_missing = None, False, f"no baseline for machine {machine}"
    if wall_reference is not None:
        wall = judge_sessions(wall_reference, candidate, threshold=DEFAULT_THRESHOLD, noise=noise)
        # Without the machine's noise floor a wall-time verdict cannot be trusted to gate.
        wall_gates = noise is not None and wall.gating
    where = str(instruction_baselines / key)
    return judge_stack(reference, candidate, key, where, wall=wall, wall_gates=wall_gates,
                       wall_missing=wall_missing)  # fmt: skip


def _speed_step(out: Path, baseline: BenchSession | None, made: _Made) -> Outcome:
    """The gate: this run's instruction counts against its stack's newest committed baseline."""
    from linreg.report.speed_words import summary

    gate = judge_run(made.bench_files, BASELINES, INSTRUCTION_BASELINES, baseline)
    if gate is None:
        # Nothing measured is nothing compared: not a pass.
        return Outcome(FAILED, "not judged: the bench step stored no results")
    path = write_json_new(
        out / kinds.SPEED_VERDICT_FILE, kinds.envelope(kinds.SPEED_VERDICT, gate.to_dict())
    )
    made.loaded.append(LoadedResult(path, kinds.SPEED_VERDICT, gate))
    status = FAILED if gate.regressions else OK if gate.decided else NOT_JUDGED
    return Outcome(status, summary(gate))


def _repro_step(out: Path, devices: list[str], made: _Made) -> Outcome:
    from linreg.suites.repro import repro
    from linreg.suites.repro_options import ReproMatrix, ReproOptions

    report = repro(ReproOptions(ReproMatrix(devices=tuple(devices))), results_root=out / "repro")
    made.loaded += report.loaded
    checked, runs = report.golden_coverage
    failures = report.failures
    detail = (
        f"{len(report.checks) - len(failures)} of {len(report.checks)} checks hold; "
        f"{checked} of {runs} runs checked against golden references"
    )
    return Outcome(FAILED if failures else OK, detail + first_failure(failures))


def _report_step(out: Path, steps: list[JobStep], made: _Made) -> Outcome:
    from linreg.report.build import write_report
    from linreg.report.inputs import inputs_from

    # The steps so far, for the report's panel: a step that failed before writing its results
    # shows there as failed, so the panel and the job's exit status say the same thing.
    record = JobRecord(tuple(steps))
    path = write_json_new(
        out / kinds.MAIN_JOB_FILE, kinds.envelope(kinds.MAIN_JOB, record.to_dict())
    )
    loaded = [*made.loaded, LoadedResult(path, kinds.MAIN_JOB, record)]
    # In the order a report of the folder would find them, so that it draws the same report.
    loaded.sort(key=lambda result: walk_key(result.path, out))
    inputs = inputs_from(loaded, [str(out)])
    summary = write_report(inputs, out / "report.html")
    made.report = summary.path
    panel = "green" if summary.ok else "red"
    return Outcome(OK, f"{len(summary.figures)} figures; verdict panel {panel}")


def _load_report_modules() -> None:
    """Imported ahead of the report step; one that fails to import fails that step, with its
    reason, when the step imports it again, not the step that waits here."""
    for module in ("linreg.report.build", "linreg.report.inputs"):
        with contextlib.suppress(Exception):
            importlib.import_module(module)


class _InBackground:
    """A step's work, started in a thread ahead of its turn; the step takes its outcome (or
    its exception) when the runner reaches it, and the seconds the work itself took."""

    def __init__(self, work: Callable[[], Outcome]) -> None:
        self._work = work
        self._result: Outcome | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="linreg-run-bench", daemon=True)
        self.seconds = 0.0

    def _run(self) -> None:
        started = time.monotonic()
        try:
            self._result = self._work()
        except BaseException as exc:  # handed to the main thread, which raises it
            self._error = exc
        finally:
            self.seconds = time.monotonic() - started

    def start(self) -> None:
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._thread.ident is not None and not self._thread.is_alive()

    def outcome(self) -> Outcome:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def join(self) -> None:
        if self._thread.ident is not None:
            self._thread.join()


def _wait_until(ready: Callable[[], bool], poll_s: float = 0.05) -> None:
    while not ready():
        time.sleep(poll_s)


# The steps' order in the job's record, its table and its report, whatever order they ran in.
STEP_ORDER = ("train", "bench", "speed", "repro", "report")


def _in_order(steps: list[JobStep]) -> list[JobStep]:
    return sorted(steps, key=lambda step: STEP_ORDER.index(step.name))


def _start_counter(folder: Path, baselines: Path) -> InstructionCounter | None:
    """The bench's Valgrind process, started before anything else (torch's import included),
    where the bench may count: counting is not switched off and some stack has an instruction
    baseline (whether this stack has one is known once torch is imported; where it has none,
    the counter is stopped then)."""
    if os.environ.get(COUNT_VARIABLE) == "0":
        return None
    if not baselines.is_dir() or not any(path.is_dir() for path in baselines.iterdir()):
        return None
    return InstructionCounter.start(folder)


def run_main_job(
    out: str | Path, on_step: StepCallback | None = None, *, overlap: bool = True
) -> MainJobResult:
    """The job under ``out``; ``overlap=False`` runs each step alone, one after the other,
    as the job ran before its steps overlapped (bench/job_overlap.py compares the two)."""
    out = Path(out)
    check_new_folder(out)
    # The folder's name as long as the bench suite's own (its path is in Valgrind's command
    # line, and the counting process's heap moves counts by tenths of a percent).
    with tempfile.TemporaryDirectory(prefix="linreg-callgrind-") as counting:
        # First of all: Valgrind's start-up with torch is the longest thing the job waits for.
        counter = _start_counter(Path(counting), INSTRUCTION_BASELINES) if overlap else None
        try:
            return _run_steps(out, on_step, counter, overlap)
        finally:
            if counter is not None:
                counter.stop()


def _run_steps(
    out: Path, on_step: StepCallback | None, counter: InstructionCounter | None, overlap: bool
) -> MainJobResult:
    from linreg.numerics import available_devices  # imports torch

    devices = available_devices()
    made = _Made()
    done: list[JobStep] = []
    # Loaded once: which cases the bench counts, and what the gate judges them against.
    baseline = newest_instruction_baseline(current_stack_key(), INSTRUCTION_BASELINES)
    if counter is not None and not _counted_names(baseline):
        counter.stop()  # this stack has no baseline: nothing to count
        counter = None
    speed = Step("speed", "compare with this stack's baseline", None,
                 lambda _: _speed_step(out, baseline, made))  # fmt: skip
    report = Step("report", "build the report", None,
                  lambda _: _report_step(out, _in_order(done), made))  # fmt: skip
    if not overlap:
        steps = [
            Step("train", "train the tutorial model", None,
                 lambda _: _train_step(out, devices, made)),
            Step("bench", "quick benchmark", None,
                 lambda _: _bench_step(out, devices, baseline, made)),
            speed,
            Step("repro", "reproducibility check", None,
                 lambda _: _repro_step(out, devices, made)),
            report,
        ]  # fmt: skip
        run_steps(steps, on_step=on_step, on_done=done.append)
        return MainJobResult(out, tuple(done), made.report)
    stop = threading.Event()
    bench_made = _Made(counter=counter, stop=stop)
    bench = _InBackground(lambda: _bench_step(out, devices, baseline, bench_made))
    # A step that waited for another's work is recorded with its own work's seconds.
    own_seconds: dict[str, float] = {}

    def train(_: float | None) -> Outcome:
        try:
            return _train_step(out, devices, made)
        finally:
            bench.start()  # after training: the timed cases share the machine with Valgrind

    def repro(_: float | None) -> Outcome:
        # The repro workers would take the core the timed cases run on: they start once the
        # cases are timed, while Valgrind counts.
        _wait_until(lambda: bench.done or (counter is not None and counter.cases_timed))
        started = time.monotonic()
        try:
            return _repro_step(out, devices, made)
        finally:
            own_seconds["repro"] = time.monotonic() - started

    def bench_done(_: float | None) -> Outcome:
        # The report's libraries (plotly, pandas: 0.4 s) load while Valgrind still counts, on
        # the core the repro left: after the count, only the report itself is left to build.
        _load_report_modules()
        try:
            return bench.outcome()
        finally:
            own_seconds["bench"] = bench.seconds
            made.loaded += bench_made.loaded
            made.bench_files += bench_made.bench_files

    def record(step: JobStep) -> None:
        done.append(dataclasses.replace(step, seconds=own_seconds.get(step.name, step.seconds)))

    steps = [
        Step("train", "train the tutorial model", None, train),
        Step("repro", "reproducibility check", None, repro),
        Step("bench", "quick benchmark", None, bench_done),
        speed,
        report,
    ]
    try:
        # One failed step is a finding of the job, not the end of it: the rest still run and
        # the report shows what there is.
        run_steps(steps, on_step=on_step, on_done=record)
    finally:
        # Stopped (Ctrl-C, SIGTERM, an error): the bench suite saves what finished and ends
        # (the caller stops Valgrind); finished, it is done already.
        stop.set()
        bench.join()
    return MainJobResult(out, tuple(_in_order(done)), made.report)
