"""`linreg run --target SPEC`: the main job on a target — train it, bench its quick cases, gate
them on this target version's instruction baseline, run its repro matrix, and write the report
whose first screen answers Reproduces? / How fast? / Regressed? for that model.

The tutorial's job (linreg.jobs.main_job) is left as it is; this one strings the target's steps
through the same step runner, and hands what each step made on to the report, loaded once.
The gate never reads a baseline of another code hash: a target's baselines are kept per version
(linreg.results.target_baselines), so a changed target says it has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from linreg import units
from linreg.jobs.steps import JobResult, Outcome, Step, StepCallback, first_failure, run_steps
from linreg.jobs.target_training import train_target_to_folder
from linreg.numerics import available_devices
from linreg.results import kinds
from linreg.results.bench_file import BenchFile
from linreg.results.bench_sessions import BenchSession, newest_per_machine
from linreg.results.files import check_new_folder, write_json_new
from linreg.results.instruction_baselines import counted_cases
from linreg.results.job_steps import FAILED, NOT_JUDGED, OK, JobRecord, JobStep
from linreg.results.load import load_bench
from linreg.results.speed_verdict import SpeedVerdict
from linreg.results.target_baselines import (
    instruction_root,
    newest_target_baseline,
    no_baseline_words,
)
from linreg.results.target_repro_checks import TargetReproChecks
from linreg.stack import current_stack_key, stack_key
from linreg.target import Target
from linreg.target_config import TargetConfig, TargetRef
from linreg.target_loading import load_target
from linreg.target_run import TargetRun

TARGET_JOB_FILE = "target-job.json"


TargetJobResult = JobResult  # the job's folder, steps and report


@dataclass
class TargetMade:
    """What the steps made so far, for the steps after them and the report."""

    target: Target
    ref: TargetRef
    size: str
    devices: list[str]
    runs: list[tuple[Path, TargetRun]] = field(default_factory=list)
    bench_files: list[BenchFile] = field(default_factory=list)
    gate: SpeedVerdict | None = None
    gate_words: str = ""
    checks: TargetReproChecks | None = None
    repro_folder: Path | None = None
    report: Path | None = None


def _train_step(out: Path, made: TargetMade) -> Outcome:
    details = []
    for device in made.devices:
        # One CPU thread: the repro matrix's config (so the job's run is one its checks cover),
        # and on a shared host no step waits on a descheduled second thread.
        threads = 1 if device == "cpu" else None
        config = TargetConfig(target=made.ref, size=made.size, device=device, threads=threads)
        run, folder = train_target_to_folder(config, made.target, out_dir=out / "runs" / device)
        made.runs.append((folder, run))
        last = f", eval loss {run.eval_loss[-1]:.4g}" if run.eval_loss else ""
        details.append(f"{device}: {run.steps} steps, train loss {run.train_loss[-1]:.4g}{last}, "
                       f"{units.seconds(run.timings.step_us * 1e-6)}/step")  # fmt: skip
    return Outcome(OK, "; ".join(details))


def _bench_step(out: Path, made: TargetMade, baseline: BenchSession | None) -> Outcome:
    from linreg.suites.bench_request import BenchRequest
    from linreg.suites.bench_runner import run_bench_suite
    from linreg.suites.bench_selection import parse_selection

    selection = parse_selection(devices=",".join(made.devices), quick=True,
                                target=made.ref.spec, target_size=made.size)  # fmt: skip
    # Valgrind's start-up with torch is most of a count's cost: count only where this version
    # of the target has a baseline of this stack to gate on, and only the cases it holds.
    counted = sorted({n for f in (baseline.files if baseline else ()) for n in counted_cases(f)})
    request = BenchRequest(selection, instructions="yes" if counted else "no",
                           instructions_only=tuple(counted))  # fmt: skip
    outcome = run_bench_suite(request, storage_root=out / "bench", log_path=out / "bench.log")
    if outcome.problem:
        return Outcome(FAILED, f"{outcome.problem}; see {out / 'bench.log'}")
    if outcome.exit_code != 0 or not outcome.saved:
        return Outcome(FAILED, f"pytest exit {outcome.exit_code}; see {out / 'bench.log'}")
    made.bench_files += [load_bench(path) for path in outcome.saved]
    steps = [c for f in made.bench_files for c in f.cases
             if c.extra_info.get("kind") == "target_step"]  # fmt: skip
    detail = ", ".join(
        f"{c.extra_info.get('device')} {c.extra_info.get('dtype')} "
        f"{units.seconds(float(c.extra_info['step_us']) * 1e-6)}/step"
        for c in steps
        if isinstance(c.extra_info.get("step_us"), (int, float))
    )
    cases = sum(len(f.cases) for f in made.bench_files)
    return Outcome(OK, f"{cases} cases; {detail}")


def judge_target_run(
    made: TargetMade, baseline: BenchSession | None, root: Path | None = None
) -> SpeedVerdict | None:
    """This run's target cases against the newest baseline of this target version on this
    stack (None where the run stored no bench results)."""
    from linreg.compare.stack_gate import judge_stack

    if not made.bench_files:
        return None
    candidate = newest_per_machine(made.bench_files)[0]
    key = stack_key(candidate.files[0].environment)
    where = str(instruction_root(made.ref, root) / key)
    return judge_stack(baseline, candidate, key, where)


def _speed_step(out: Path, made: TargetMade, baseline: BenchSession | None) -> Outcome:
    from linreg.report.speed_words import summary

    key = current_stack_key()
    if not made.bench_files:
        return Outcome(FAILED, "not judged: the bench step stored no results")
    if baseline is None:
        made.gate_words = no_baseline_words(made.ref, key)
        return Outcome(NOT_JUDGED, made.gate_words)
    gate = judge_target_run(made, baseline)
    assert gate is not None  # bench files are there
    write_json_new(out / kinds.SPEED_VERDICT_FILE,
                   kinds.envelope(kinds.SPEED_VERDICT, gate.to_dict()))  # fmt: skip
    made.gate = gate
    made.gate_words = summary(gate)
    status = FAILED if gate.regressions else OK if gate.decided else NOT_JUDGED
    return Outcome(status, made.gate_words)


def _repro_step(out: Path, made: TargetMade) -> Outcome:
    from linreg.suites.target_repro import target_repro
    from linreg.suites.target_repro_options import (
        TargetReproMatrix,
        TargetReproOptions,
        target_tolerances,
    )
    from linreg.tolerance import default_tolerances

    target = made.target
    dtypes = tuple(d for d in ("float32", "float64") if d in target.dtypes) or target.dtypes[:1]
    matrix = TargetReproMatrix(target=made.ref, size=made.size,
                               steps=int(target.sizes[made.size]["steps"]),
                               devices=tuple(made.devices), dtypes=dtypes)  # fmt: skip
    tolerances = target_tolerances(default_tolerances(), target, None, None)
    options = TargetReproOptions(matrix, tolerances, float(target.fp64_multiplier))
    report = target_repro(options, target, results_root=out / "repro")
    made.checks, made.repro_folder = report.record, report.result_dir
    failures = report.failures
    detail = f"{len(report.checks) - len(failures)} of {len(report.checks)} checks hold"
    return Outcome(FAILED if failures else OK, detail + first_failure(failures))


def _report_step(out: Path, steps: list[JobStep], made: TargetMade) -> Outcome:
    from linreg.report.target_report import TargetFacts, write_target_report

    record = JobRecord(tuple(steps))
    write_json_new(out / TARGET_JOB_FILE, kinds.envelope(kinds.MAIN_JOB, record.to_dict()))
    facts = TargetFacts(made.ref, made.size, tuple(made.runs), tuple(made.bench_files),
                        made.gate, made.gate_words, made.checks, tuple(steps))  # fmt: skip
    summary = write_target_report(facts, out / "report.html")
    made.report = summary.path
    panel = "green" if summary.ok else "red"
    return Outcome(OK, f"{len(summary.figures)} figures; verdict panel {panel}")


def run_target_job(
    spec: str,
    out: str | Path,
    size: str = "ci",
    on_step: StepCallback | None = None,
    baselines: Path | None = None,
) -> TargetJobResult:
    """Every step of `linreg run` on the target ``spec`` names, under the new folder ``out``."""
    from linreg.errors import ConfigError

    out = Path(out)
    target, ref = load_target(spec)  # a bad target: exit 2 before anything is written
    if size not in target.sizes:
        raise ConfigError("size", f"{spec} has no size {size!r} (it has "
                          f"{', '.join(target.sizes)})")  # fmt: skip
    devices = [d for d in available_devices() if d.split(":")[0] in target.devices]
    if not devices:
        raise ConfigError("target", f"{spec}: declares no device present here "
                          f"(it declares {', '.join(target.devices)})")  # fmt: skip
    check_new_folder(out)
    made = TargetMade(target, ref, size, devices)
    done: list[JobStep] = []
    baseline = newest_target_baseline(ref, current_stack_key(), baselines)
    steps = [
        Step("train", f"train {ref.name}", None, lambda _: _train_step(out, made)),
        Step("bench", "quick benchmark", None, lambda _: _bench_step(out, made, baseline)),
        Step("speed", "compare with this target version's baseline", None,
             lambda _: _speed_step(out, made, baseline)),
        Step("repro", "reproducibility check", None, lambda _: _repro_step(out, made)),
        Step("report", "build the report", None, lambda _: _report_step(out, done, made)),
    ]  # fmt: skip
    run_steps(steps, on_step=on_step, on_done=done.append)
    return TargetJobResult(out, tuple(done), made.report)
