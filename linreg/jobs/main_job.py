"""`linreg run`, the main job: tutorial training, quick bench, repro check and the report.

Each step writes under one results folder; the report is built from that folder at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from linreg import units
from linreg.config import TrainConfig
from linreg.errors import LinregError
from linreg.jobs.training import train_to_folder
from linreg.numerics import available_devices
from linreg.paths import BASELINES, INSTRUCTION_BASELINES
from linreg.results import kinds
from linreg.results.bench_sessions import BenchSession, newest_per_machine
from linreg.results.files import check_new_folder, write_json_new
from linreg.results.instruction_baselines import counted_cases, newest_instruction_baseline
from linreg.results.load import load_result
from linreg.results.resultset import load_result_set
from linreg.stack import current_stack_key, stack_key

if TYPE_CHECKING:
    from linreg.compare.stack_gate import StackGate

SPEED_VERDICT = "speed-verdict.json"
JOB_RECORD = "job.json"
# The wall-time threshold of the main job's own verdict (instructions use their own, 3 %).
DEFAULT_THRESHOLD = 0.10


@dataclass
class StepResult:
    name: str
    ok: bool
    detail: str
    judged: bool = True  # False: the step had nothing to decide by (no baseline, no counts)


@dataclass
class MainJobResult:
    out: Path
    report: Path | None = None
    steps: list[StepResult] = field(default_factory=list)
    bench_files: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


# Called before each step with (index, total, step name).
StepCallback = Callable[[int, int, str], None]


def _train_step(out: Path, devices: list[str]) -> StepResult:
    details = []
    for device in devices:
        outcome = train_to_folder(TrainConfig(device=device), out_dir=out / "runs" / device)
        run = outcome.run
        details.append(f"{device}: weight {run.final_weight:.6g}, bias {run.final_bias:.6g}")
    return StepResult("train", True, "; ".join(details))


def _bench_step(out: Path, devices: list[str], result: MainJobResult) -> StepResult:
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
    out.mkdir(parents=True, exist_ok=True)
    outcome = run_bench_suite(
        selection,
        results_root=out / "bench",
        log_path=out / "bench.log",
        pytest_args=_counting_args(),
    )
    if outcome.problem:
        return StepResult("bench", False, f"{outcome.problem}; see {out / 'bench.log'}")
    if outcome.exit_code != 0 or not outcome.saved:
        return StepResult(
            "bench", False, f"pytest exit {outcome.exit_code}; see {out / 'bench.log'}"
        )
    result.bench_files = list(outcome.saved)
    from linreg.report.frames import load_bench_frame

    frame = load_bench_frame(outcome.saved)
    train = frame[frame["kind"] == "train"]
    detail = ", ".join(
        f"{r.device} {r.dtype} {units.seconds(r.epoch_us * 1e-6)}/epoch" for r in train.itertuples()
    )
    return StepResult("bench", True, f"{len(frame)} cases; {detail}")


def _counting_args() -> tuple[str, ...]:
    """The bench suite's instruction options: count, in its one Valgrind process, just the cases
    the newest baseline of this stack holds counts of (Valgrind's start-up with torch is most of
    the cost, each case adds its own); none where this stack has no baseline."""
    names: set[str] = set()
    baseline = newest_instruction_baseline(current_stack_key(), INSTRUCTION_BASELINES)
    for file in baseline.files if baseline else ():
        names.update(counted_cases(file))
    if not names:
        return ("--instructions=no",)
    return ("--instructions=yes", f"--instructions-only={','.join(sorted(names))}")


def newest_baseline(machine: str, root: Path = BASELINES) -> BenchSession | None:
    """The machine's newest committed wall-time baseline session (results/baselines/<machine>/)."""
    folder = root / machine
    if not folder.is_dir():
        return None
    found = [
        s for s in newest_per_machine(load_result_set(folder).bench_files) if s.machine == machine
    ]
    return found[0] if found else None


def judge_run(
    bench_files: list[Path],
    baselines: Path = BASELINES,
    instruction_baselines: Path = INSTRUCTION_BASELINES,
) -> StackGate | None:
    """This run's bench session against the newest instruction baseline of its own stack (the
    gate), with wall time against its machine's newest baseline (information, unless a noise
    floor measured there lets it gate); None where the run stored no bench results."""
    from linreg.compare.speed import judge_sessions
    from linreg.compare.stack_gate import judge_stack

    files = [r.value for r in map(load_result, bench_files) if r and r.kind == kinds.BENCH]
    if not files:
        return None
    candidate = newest_per_machine(files)[0]  # one run: one machine, one session
    key = stack_key(candidate.files[0].environment)
    reference = newest_instruction_baseline(key, instruction_baselines)
    machine = candidate.machine
    wall_reference = newest_baseline(machine, baselines)
    wall, wall_gates, wall_note = None, False, f"no baseline for machine {machine}"
    if wall_reference is not None:
        noise = load_result_set(baselines / machine).noise_floor(machine)
        wall = judge_sessions(wall_reference, candidate, threshold=DEFAULT_THRESHOLD, noise=noise)
        # Without the machine's noise floor a wall-time verdict cannot be trusted to gate.
        wall_gates = noise is not None and wall.gating
    where = str(instruction_baselines / key)
    return judge_stack(reference, candidate, key, where, wall=wall, wall_gates=wall_gates,
                       wall_note=wall_note)  # fmt: skip


def _speed_step(out: Path, result: MainJobResult) -> StepResult:
    """The gate: this run's instruction counts against its stack's newest committed baseline."""
    gate = judge_run(result.bench_files, BASELINES, INSTRUCTION_BASELINES)
    if gate is None:
        # Nothing measured is nothing compared: not a pass.
        return StepResult("speed", False, "not judged: the bench step stored no results")
    write_json_new(out / SPEED_VERDICT, kinds.envelope(kinds.SPEED_VERDICT, gate.to_dict()))
    return StepResult("speed", not gate.regressions, gate.summary, judged=gate.decided)


def _repro_step(out: Path, devices: list[str]) -> StepResult:
    from linreg.suites.repro import ReproMatrix, ReproOptions, repro

    report = repro(ReproOptions(ReproMatrix(devices=tuple(devices))), results_root=out / "repro")
    checked, runs = report.golden_coverage
    failures = report.failures
    detail = (
        f"{len(report.checks) - len(failures)} of {len(report.checks)} checks hold; "
        f"{checked} of {runs} runs checked against golden references"
    )
    if failures:
        first = failures[0]
        detail += f"; first failure: {first.kind} {first.subject}: {first.reason}"
    return StepResult("repro", not failures, detail)


def _report_step(out: Path, result: MainJobResult) -> StepResult:
    from linreg.report.build import build_report

    # The steps so far, for the report's panel: a step that failed before writing its results
    # shows there as failed, so the panel and the job's exit status say the same thing.
    steps = [{"name": s.name, "ok": s.ok, "detail": s.detail} for s in result.steps]
    write_json_new(out / JOB_RECORD, kinds.envelope(kinds.MAIN_JOB, {"steps": steps}))
    summary = build_report([out], out / "report.html")
    result.report = summary.path
    panel = "green" if summary.ok else "red"
    return StepResult("report", True, f"{len(summary.figures)} figures; verdict panel {panel}")


def run_main_job(out: str | Path, on_step: StepCallback | None = None) -> MainJobResult:
    out = Path(out)
    check_new_folder(out)
    devices = available_devices()
    result = MainJobResult(out=out)
    steps: list[tuple[str, str, Callable[[], StepResult]]] = [
        ("train", "train the tutorial model", lambda: _train_step(out, devices)),
        ("bench", "quick benchmark", lambda: _bench_step(out, devices, result)),
        ("speed", "compare with this stack's baseline", lambda: _speed_step(out, result)),
        ("repro", "reproducibility check", lambda: _repro_step(out, devices)),
        ("report", "build the report", lambda: _report_step(out, result)),
    ]
    for index, (name, description, step) in enumerate(steps):
        if on_step is not None:
            on_step(index, len(steps), description)
        try:
            result.steps.append(step())
        except LinregError as exc:
            # One failed step is a finding of the job, not the end of it: the rest still run
            # and the report shows what there is.
            result.steps.append(StepResult(name, False, str(exc)))
    return result
