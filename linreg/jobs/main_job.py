"""`linreg run`, the main job: tutorial training, quick bench, repro check and the report.

Each step writes under one results folder; the report is built from that folder at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from linreg import units
from linreg.config import TrainConfig
from linreg.errors import LinregError
from linreg.jobs.training import train_to_folder
from linreg.numerics import available_devices
from linreg.paths import BASELINES
from linreg.results import kinds
from linreg.results.bench_sessions import BenchSession, newest_per_machine
from linreg.results.files import check_new_folder, write_json_new
from linreg.results.load import load_result
from linreg.results.resultset import load_result_set

SPEED_VERDICT = "speed-verdict.json"
JOB_RECORD = "job.json"
# The wall-time threshold of the main job's own verdict (instructions use their own, 3 %).
DEFAULT_THRESHOLD = 0.10


@dataclass
class StepResult:
    name: str
    ok: bool
    detail: str


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
    baseline = newest_baseline()
    # Counting instructions costs Valgrind's start-up (about a minute): worth it only where a
    # baseline of this machine holds counts to compare with.
    count = baseline is not None and _has_counts(baseline)
    outcome = run_bench_suite(
        selection,
        results_root=out / "bench",
        log_path=out / "bench.log",
        pytest_args=() if count else ("--instructions=no",),
    )
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


def newest_baseline(machine: str | None = None) -> BenchSession | None:
    """This machine's newest committed baseline session (results/baselines/<machine>/)."""
    from linreg.machine import default_machine_name

    machine = machine or default_machine_name()
    folder = BASELINES / machine
    if not folder.is_dir():
        return None
    found = [
        s for s in newest_per_machine(load_result_set(folder).bench_files) if s.machine == machine
    ]
    return found[0] if found else None


def _has_counts(session: BenchSession) -> bool:
    return any("instructions" in case.extra_info for f in session.files for case in f.cases)


def _speed_step(out: Path, result: MainJobResult) -> StepResult:
    """This run's bench session against this machine's newest baseline: a verdict that gates
    only where it can be trusted (same machine, a measured noise floor), else information."""
    from linreg.compare.speed import judge_sessions, no_baseline
    from linreg.machine import default_machine_name

    machine = default_machine_name()
    baseline = newest_baseline(machine)
    if baseline is None or not result.bench_files:
        why = "no bench results from this run" if baseline else f"no baseline for machine {machine}"
        verdict = no_baseline(f"results/baselines/{machine}/", "this run's bench", why)
        write_json_new(out / SPEED_VERDICT, kinds.envelope(kinds.SPEED_VERDICT, verdict))
        return StepResult("speed", True, verdict["summary"])
    files = [r.value for r in map(load_result, result.bench_files) if r and r.kind == kinds.BENCH]
    [candidate] = newest_per_machine(files)
    noise = load_result_set(BASELINES / machine).noise_floor(machine)
    judged = judge_sessions(baseline, candidate, threshold=DEFAULT_THRESHOLD, noise=noise)
    if noise is None:
        # Without the machine's noise floor a wall-time verdict cannot be trusted to gate.
        judged = replace(judged, gating=False)
    write_json_new(out / SPEED_VERDICT, kinds.envelope(kinds.SPEED_VERDICT, judged.to_dict()))
    return StepResult("speed", not judged.regressions, judged.summary)


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
        ("speed", "compare with this machine's baseline", lambda: _speed_step(out, result)),
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
