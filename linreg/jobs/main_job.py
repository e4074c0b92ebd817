"""`linreg run`, the main job: tutorial training, quick bench, repro check and the report.

Each step writes under one results folder; the report is built from that folder at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from linreg.config import TrainConfig
from linreg.errors import LinregError
from linreg.jobs.training import train_to_folder
from linreg.numerics import available_devices
from linreg.results.files import check_new_folder


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


def _bench_step(out: Path, devices: list[str]) -> StepResult:
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
    outcome = run_bench_suite(selection, results_root=out / "bench", log_path=out / "bench.log")
    if outcome.exit_code != 0 or not outcome.saved:
        return StepResult(
            "bench", False, f"pytest exit {outcome.exit_code}; see {out / 'bench.log'}"
        )
    from linreg.report.frames import load_bench_frame

    frame = load_bench_frame(outcome.saved)
    train = frame[frame["kind"] == "train"]
    detail = ", ".join(
        f"{r.device} {r.dtype} {r.epoch_us:.0f} µs/epoch" for r in train.itertuples()
    )
    return StepResult("bench", True, f"{len(frame)} cases; {detail}")


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

    summary = build_report([out], out / "report.html")
    result.report = summary.path
    return StepResult("report", True, f"{len(summary.figures)} figures")


def run_main_job(out: str | Path, on_step: StepCallback | None = None) -> MainJobResult:
    out = Path(out)
    check_new_folder(out)
    devices = available_devices()
    result = MainJobResult(out=out)
    steps: list[tuple[str, str, Callable[[], StepResult]]] = [
        ("train", "train the tutorial model", lambda: _train_step(out, devices)),
        ("bench", "quick benchmark", lambda: _bench_step(out, devices)),
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
