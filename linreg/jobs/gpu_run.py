"""`linreg gpu-run`: everything a GPU machine should record, as one time-boxed command.

A GPU machine is at hand now and then, for minutes, and reaches no network. This job runs, in
order: the CUDA tests; the benchmark matrix on cuda (every dtype and engine, the size sweep up to
1e8 samples, inference batches, copy bandwidth) and the CPU cases that CPU/GPU ratios need; the
repro matrix on cuda against cpu with TF32 off and on and deterministic algorithms on and off,
twice in two processes; the report, where plotly is importable; a summary of the findings
(crossover sizes, the 1e8 epoch against the copy floor, repro levels); and one archive to bring
back. Everything is written under one folder; the archive and the summary are the few files to
carry home.

Each step has a budget. A step whose budget exceeds the time left is skipped with a message;
each child process is stopped at its step's budget and keeps what it finished. The archive's
budget is held back for it. Without CUDA the same command is a rehearsal: the CUDA parts are
named as skipped with the reason, the rest runs at small sizes.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from linreg.errors import ConfigError, OutputError
from linreg.jobs import gpu_summary
from linreg.jobs.steps import DoneCallback, Outcome, Step, StepCallback, first_failure, run_steps
from linreg.paths import PROJECT_ROOT
from linreg.processes import GRACE_SECONDS, run_bounded
from linreg.results import kinds
from linreg.results.archive import ARCHIVE_SUFFIX, write_archive
from linreg.results.files import check_new_folder, write_file, write_json_new, write_text_atomic
from linreg.results.gpu_run_summary import GpuRunSummary
from linreg.results.job_steps import FAILED, OK, SKIPPED, TIMED_OUT, JobStep
from linreg.results.load import load_checks, load_result

# Under 8 minutes on one H200 with room to spare: the sum of the step budgets stays inside it.
DEFAULT_BUDGET_SECONDS = 450.0
# Seconds per step: what each is expected to need on one H200 and a little more. A step stops at
# its budget keeping what it finished, so a guess too small costs that step's tail, not the run.
BUDGETS = {
    "wheels": 25,  # pip from a local folder: seconds
    "cuda-tests": 75,  # a pytest start, two inductor compiles (a cold compiler: tens of seconds)
    "bench-cuda-sweep": 75,  # 28 epoch cases, 1e8 samples: ~1 s of data building each
    "bench-cpu": 45,  # the ratio cases at up to 1e6 samples on the CPU
    "bench-cuda-runs": 65,  # train, inference and engine epochs, quick rounds
    "bench-cuda-compiled": 75,  # 16 compiles of a few seconds each
    "repro": 45,  # 48 configs twice: two worker processes, a CUDA start each
    # --target: its step and inference on cuda and the CPU, eager and compiled (a compile each).
    "bench-target": 150,
    "repro-target": 120,  # a target's runs are longer than the tutorial's: one seed, 2 dtypes
    # A rehearsal's repro runs on the host, not the device: five runs in worker processes and a
    # replay take 11-15 s on a quiet 2-core machine and past 38 s beside another test worker.
    "repro-rehearsal": 90,
    "report": 30,
    "archive": 15,
}
# What may come back from a GPU machine: this many files, each at most this large, named so.
BRING_BACK_FILES = 8
BRING_BACK_FILE_BYTES = 16 << 20
BRING_BACK_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
BRING_BACK_FOLDER = "bring-back"

DTYPES = "float32,float64,bfloat16,float16"
# The size sweep on cuda: the tutorial's 40 training samples up to 1e8 (1.6 GB of X and y in
# float64, a few GB with the eager step's intermediates: far inside an H200's memory).
CUDA_SIZES = (40, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
# The compiled engine compiles one graph per size (dynamic=False): four points span the sweep.
CUDA_COMPILED_SIZES = (40, 10_000, 1_000_000, 100_000_000)
# The CPU sizes a crossover can be found at; beyond 1e6 a cpu epoch only gets slower.
CPU_RATIO_SIZES = (40, 1_000, 10_000, 100_000, 1_000_000)
# The rehearsal keeps its CPU part to seconds: two sizes prove the plumbing.
REHEARSAL_CPU_SIZES = (40, 1_000)
REPRO_ARGS = (
    "--dtypes", "float32,float64", "--threads", "1",
    "--tf32", "off,on", "--deterministic", "on,off",
)  # fmt: skip
REPRO_SEEDS, REHEARSAL_REPRO_SEEDS = "0,1,42", "42"
# The rehearsal proves the plumbing with the fewest runs that still part and replay a pair (the
# dtypes): TF32 moves CUDA matmuls only and deterministic algorithms change nothing on one CPU
# thread, so on the host those axes only repeat runs.
REHEARSAL_REPRO_ARGS = ("--dtypes", "float32,float64", "--threads", "1", "--deterministic", "on")


def child_timeout(budget_seconds: float) -> float:
    """A child's limit inside its step's budget: the grace an interrupted child gets to save
    what it finished comes out of the budget, not on top of it."""
    return max(budget_seconds - GRACE_SECONDS, budget_seconds / 2)


@dataclass(frozen=True)
class Tally:
    """A JUnit file's test cases by outcome, and the skip reasons with their counts."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    skip_reasons: tuple[tuple[str, int], ...] = ()

    @property
    def reasons(self) -> str:
        return "; ".join(f"{count}× {reason}" for reason, count in self.skip_reasons)


def junit_tally(path: Path) -> Tally:
    """Count a pytest JUnit file's cases; an absent or unreadable file counts nothing."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return Tally()
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for case in root.iter("testcase"):
        if case.find("failure") is not None:
            counts["failed"] += 1
        elif case.find("error") is not None:
            counts["errors"] += 1
        elif (skip := case.find("skipped")) is not None:
            counts["skipped"] += 1
            reasons[(skip.get("message") or "no reason given").strip()] += 1
        else:
            counts["passed"] += 1
    return Tally(counts["passed"], counts["failed"], counts["errors"], counts["skipped"],
                 tuple(reasons.most_common()))  # fmt: skip


def cuda_absent() -> str | None:
    """Why CUDA cannot run here, or None where it can."""
    import torch

    if torch.cuda.is_available():
        return None
    return (
        f"no CUDA: torch.cuda.is_available() is False "
        f"(torch {torch.__version__}, CUDA build {torch.version.cuda})"
    )


def cuda_test_files(tests: Path) -> list[Path]:
    """The test modules that hold a CUDA test. Collecting only these keeps a module that needs
    what a stock CUDA image lacks (the report's plotly) from failing the CUDA tests' run."""
    return sorted(p for p in tests.glob("test_*.py") if "mark.cuda" in p.read_text("utf-8"))


@dataclass
class Context:
    """What every step needs: where to write, which machine, whether CUDA runs, the child
    environment (the project and any wheels on its path)."""

    out: Path
    machine: str
    cuda_reason: str | None
    env: dict[str, str]
    wheel_site: Path | None = None
    target: str | None = None  # --target's spec: its cases and its repro matrix, not the tutorial's

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    def child_env(self) -> dict[str, str]:
        return dict(self.env)


# --- the steps ------------------------------------------------------------------------------


def _wheels_step(ctx: Context, wheelhouse: Path, timeout: float) -> Outcome:
    """Install into a temporary folder the wheels whose packages this Python lacks; the ones
    it has stay in charge (the image's own versions)."""
    missing = [w for w in sorted(wheelhouse.glob("*.whl")) if not _installed(w)]
    if not missing:
        return Outcome(OK, f"every package of the {wheelhouse} wheels is installed already")
    target = Path(tempfile.mkdtemp(prefix="linreg-wheels-"))
    done = run_bounded(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
         "--no-cache-dir", "--target", str(target), *map(str, missing)],
        timeout_s=child_timeout(timeout), env=ctx.child_env(), log_path=ctx.logs / "wheels.log",
    )  # fmt: skip
    names = ", ".join(w.name.split("-")[0] for w in missing)
    if done.exit_code != 0:
        shutil.rmtree(target, ignore_errors=True)
        return Outcome(FAILED, f"pip could not install {names} (see logs/wheels.log)")
    ctx.wheel_site = target
    ctx.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), ctx.env.get("PYTHONPATH")]))
    return Outcome(OK, f"installed {names} into {target} for this run")


def _installed(wheel: Path) -> bool:
    try:
        importlib.metadata.version(wheel.name.split("-")[0])
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _cuda_tests_step(ctx: Context, timeout: float) -> Outcome:
    files = cuda_test_files(PROJECT_ROOT / "tests")
    if not files:
        return Outcome(FAILED, f"no CUDA test found under {PROJECT_ROOT / 'tests'} (a checkout?)")
    junit = ctx.logs / "cuda-tests.xml"
    done = run_bounded(
        [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider",
         f"--junitxml={junit}", *map(str, files)],
        timeout_s=child_timeout(timeout), cwd=PROJECT_ROOT, env=ctx.child_env(),
        log_path=ctx.logs / "cuda-tests.log",
    )  # fmt: skip
    tally = junit_tally(junit)
    counts = f"{tally.passed} passed, {tally.failed} failed, {tally.errors} errors"
    if done.timed_out:
        return Outcome(TIMED_OUT, f"stopped at its budget: {counts}", ctx.cuda_reason)
    if done.exit_code not in (0, 5) or tally.failed or tally.errors:
        return Outcome(FAILED, f"pytest exit {done.exit_code}: {counts}; see logs/cuda-tests.log")
    if ctx.cuda_reason is not None:
        return Outcome(
            SKIPPED,
            f"{ctx.cuda_reason}; rehearsed: pytest -m cuda ran {tally.skipped} CUDA tests, "
            "all skipped",
            ctx.cuda_reason,
        )
    return Outcome(OK, f"{counts}, {tally.skipped} skipped" + _reasons(tally))


def _reasons(tally: Tally) -> str:
    return f" ({tally.reasons})" if tally.skip_reasons else ""


@dataclass(frozen=True)
class BenchPart:
    """One slice of the benchmark matrix, run by one pytest process."""

    devices: str
    kinds: str
    engines: str
    sizes: tuple[int, ...]
    quick: bool
    dtypes: str = DTYPES
    # Every core for the CPU cases: a CPU/GPU ratio against one thread would flatter the GPU.
    threads: str = "all"


def _bench_step(ctx: Context, name: str, part: BenchPart, timeout: float) -> Outcome:
    from linreg.suites.bench_request import BenchRequest
    from linreg.suites.bench_runner import run_bench_suite
    from linreg.suites.bench_selection import parse_selection

    selection = parse_selection(
        devices=part.devices,
        dtypes=part.dtypes,
        engines=part.engines,
        kinds=part.kinds,
        sizes=",".join(map(str, part.sizes)) or None,
        quick=part.quick,
        target=ctx.target if "target_" in part.kinds else None,
    )
    junit = ctx.logs / f"{name}.xml"
    # No Valgrind: its start-up alone would take a minute of the budget.
    request = BenchRequest(selection, threads=part.threads, instructions="no",
                           machine=ctx.machine)  # fmt: skip
    outcome = run_bench_suite(
        request,
        ctx.out / "bench",
        extra_args=(f"--junitxml={junit}",),
        log_path=ctx.logs / f"{name}.log",
        timeout_s=child_timeout(timeout),
        env=ctx.child_env(),
    )
    tally = junit_tally(junit)
    stored = sum(
        len(loaded.value.cases)
        for loaded in map(load_result, outcome.saved)
        if loaded is not None and loaded.kind == kinds.BENCH
    )
    where = f"bench/{ctx.machine}/"
    cuda_skipped = ctx.cuda_reason if "cuda" in part.devices else None
    if outcome.timed_out:
        return Outcome(
            TIMED_OUT, f"stopped at its budget: {stored} cases finished and stored in {where}",
            cuda_skipped,
        )  # fmt: skip
    if outcome.exit_code not in (0, 5) or tally.failed or tally.errors:
        return Outcome(
            FAILED,
            f"pytest exit {outcome.exit_code}: {tally.failed} failed, {tally.errors} errors; "
            f"see logs/{name}.log",
        )
    if stored == 0 and tally.skipped:
        return Outcome(SKIPPED, f"all {tally.skipped} cases skipped{_reasons(tally)}", cuda_skipped)
    skipped = f"; {tally.skipped} skipped{_reasons(tally)}" if tally.skipped else ""
    return Outcome(OK, f"{stored} cases stored in {where}{skipped}", cuda_skipped)


def _repro_step(ctx: Context, timeout: float) -> Outcome:
    devices, seeds = (
        ("cpu", REHEARSAL_REPRO_SEEDS) if ctx.cuda_reason else ("cpu,cuda", REPRO_SEEDS)
    )
    root = ctx.out / "repro"
    # A target's matrix: its declared dtypes on cpu and cuda, one seed (its runs are longer).
    matrix = REHEARSAL_REPRO_ARGS if ctx.cuda_reason else REPRO_ARGS
    asked = (["--target", ctx.target, "--seeds", "0", "--threads", "1"] if ctx.target else
             ["--seeds", seeds, *matrix])  # fmt: skip
    done = run_bounded(
        [sys.executable, "-m", "linreg", "repro", "--devices", devices, *asked,
         "--out", str(root), "--pyproject", str(PROJECT_ROOT / "pyproject.toml")],
        timeout_s=child_timeout(timeout), cwd=PROJECT_ROOT, env=ctx.child_env(),
        log_path=ctx.logs / "repro.log",
    )  # fmt: skip
    cuda_part = f"; cuda part skipped: {ctx.cuda_reason}" if ctx.cuda_reason else ""
    sets = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    checks_file = sets[-1] / kinds.REPRO_CHECKS_FILE if sets else None
    if done.timed_out or checks_file is None or not checks_file.is_file():
        finished = sum(1 for s in sets for _ in s.glob("*/*.json"))
        resume = f"; linreg repro --resume {sets[-1]} finishes it" if sets else ""
        status = TIMED_OUT if done.timed_out else FAILED
        how = "stopped at its budget" if done.timed_out else f"exit {done.exit_code}, no checks"
        return Outcome(status, f"{how}: {finished} runs finished{resume}{cuda_part}",
                       ctx.cuda_reason)  # fmt: skip
    loaded = load_result(checks_file) if ctx.target else None
    checks = loaded.value.checks if loaded is not None else load_checks(checks_file).checks
    failures = [c for c in checks if not c.holds]
    detail = f"{len(checks) - len(failures)} of {len(checks)} checks hold in {sets[-1].name}"
    detail += first_failure(failures)
    return Outcome(OK if done.exit_code == 0 and not failures else FAILED, detail + cuda_part,
                   ctx.cuda_reason)  # fmt: skip


def report_missing(search: list[str]) -> list[str]:
    """The report's packages that cannot be imported from ``search`` (sys.path and any wheels)."""
    return [
        name
        for name in ("pandas", "plotly")
        if importlib.machinery.PathFinder.find_spec(name, search) is None
    ]


def _report_step(ctx: Context, archive_name: str, timeout: float) -> Outcome:
    search = [str(ctx.wheel_site)] if ctx.wheel_site else []
    missing = report_missing(search + sys.path)
    if missing:
        return Outcome(
            SKIPPED,
            f"{' and '.join(missing)} cannot be imported here; build the report from the "
            f"archive on a machine with them: tar xzf {archive_name}{ARCHIVE_SUFFIX} && "
            f"linreg report {archive_name}/ --out report.html (or bring a wheelhouse: "
            "nox -s wheelhouse, then --wheelhouse)",
        )
    report = ctx.out / "report.html"
    done = run_bounded(
        [sys.executable, "-m", "linreg", "report", str(ctx.out), "--out", str(report)],
        timeout_s=child_timeout(timeout), cwd=PROJECT_ROOT, env=ctx.child_env(),
        log_path=ctx.logs / "report.log",
    )  # fmt: skip
    if done.timed_out:
        return Outcome(TIMED_OUT, "stopped at its budget; build it later from the archive")
    if done.exit_code != 0 or not report.is_file():
        return Outcome(FAILED, f"linreg report exit {done.exit_code}; see logs/report.log")
    return Outcome(OK, f"report.html ({report.stat().st_size / 1e6:.1f} MB)")


# --- the summary and the archive ------------------------------------------------------------


def build_summary(
    ctx: Context, steps: list[JobStep], budget_seconds: float, seconds: float
) -> GpuRunSummary:
    """summary.json's record: the run's steps and what it found, from its own result folder."""
    from linreg.env import capture_environment

    cases = gpu_summary.bench_cases(ctx.out / "bench")
    levels, flags = gpu_summary.repro_levels(ctx.out / "repro")
    failed = [s.name for s in steps if not s.ok]
    return GpuRunSummary(
        machine=ctx.machine,
        cuda=ctx.cuda_reason is None,
        cuda_reason=ctx.cuda_reason,
        verdict="OK" if not failed else f"FAIL ({', '.join(failed)})",
        seconds=seconds,
        budget_seconds=budget_seconds,
        steps=tuple(steps),
        crossover=gpu_summary.crossover_table(cases),
        floor=gpu_summary.floor_table(cases),
        train_ratios=gpu_summary.train_ratios(cases),
        repro_levels=levels,
        repro_flags=flags,
        fingerprint=gpu_summary.fingerprint(capture_environment()),
    )


def _archive_step(
    ctx: Context,
    bring_back: Path,
    archive_name: str,
    summary: Callable[[], GpuRunSummary],
) -> Outcome:
    found = summary()
    summary_json = write_json_new(
        ctx.out / kinds.GPU_RUN_FILE, kinds.envelope(kinds.GPU_RUN, found.to_dict())
    )
    summary_md = write_text_atomic(ctx.out / "summary.md", gpu_summary.render_markdown(found))
    parts = write_archive(
        ctx.out,
        bring_back / f"{archive_name}{ARCHIVE_SUFFIX}",
        top=archive_name,
        exclude=bring_back,
        part_bytes=BRING_BACK_FILE_BYTES,
    )
    for source in (summary_json, summary_md):
        data = source.read_bytes()
        write_file(bring_back / source.name, lambda h, d=data: h.write(d), replace=False)
    problems = bring_back_problems(bring_back)
    files = sorted(p.name for p in bring_back.iterdir())
    size = sum(p.stat().st_size for p in bring_back.iterdir())
    if problems:
        return Outcome(FAILED, f"{bring_back} cannot all come back: {'; '.join(problems)}")
    what = f"{len(parts)} parts" if len(parts) > 1 else "1 archive"
    return Outcome(OK, f"{what}, {len(files)} files ({size / 1e6:.2f} MB) in {bring_back}: "
                       f"{', '.join(files)}")  # fmt: skip


def bring_back_problems(folder: Path) -> list[str]:
    """What keeps a folder's files from coming back from a GPU machine: too many files, one
    too large, a name of other characters, anything but a plain file."""
    entries = sorted(folder.iterdir())
    problems = []
    if len(entries) > BRING_BACK_FILES:
        problems.append(f"{len(entries)} files, more than {BRING_BACK_FILES}")
    for entry in entries:
        if not entry.is_file() or entry.is_symlink():
            problems.append(f"{entry.name}: not a plain file")
        elif entry.stat().st_size > BRING_BACK_FILE_BYTES:
            problems.append(f"{entry.name}: larger than {BRING_BACK_FILE_BYTES >> 20} MiB")
        if not BRING_BACK_NAME.match(entry.name):
            problems.append(f"{entry.name}: a name of other characters than A-Z a-z 0-9 . _ -")
    return problems


# --- the job --------------------------------------------------------------------------------


@dataclass
class GpuRunResult:
    out: Path
    bring_back: Path
    machine: str
    cuda_reason: str | None
    steps: list[JobStep] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def files(self) -> list[Path]:
        return sorted(self.bring_back.iterdir()) if self.bring_back.is_dir() else []


def plan(
    ctx: Context, archive_name: str, wheelhouse: Path | None, archive: Callable[[], Outcome]
) -> list[Step]:
    """The steps in order, with their budgets (seconds); without CUDA the CPU part is small."""
    rehearsal = ctx.cuda_reason is not None
    # On a GPU machine: every dtype at the sizes a crossover can be found at, on every core. In
    # a rehearsal: enough to prove the plumbing, on one thread, which a shared CI machine keeps
    # steady (two threads there wait now and then for a descheduled one).
    cpu_part = (
        BenchPart("cpu", "copy,epoch,engine_epoch,train", "eager,batched", REHEARSAL_CPU_SIZES,
                  quick=True, dtypes="float32,float64", threads="1")
        if rehearsal
        else BenchPart("cpu", "copy,epoch,engine_epoch,train", "eager,batched", CPU_RATIO_SIZES,
                       quick=False)
    )  # fmt: skip
    parts = {
        # What the crossover and the floor rest on: full rounds.
        "bench-cuda-sweep": (
            "copy bandwidth and one eager epoch at 40 … 1e8 samples on cuda, every dtype",
            BenchPart("cuda", "copy,epoch", "eager", CUDA_SIZES, quick=False),
        ),
        "bench-cpu": (
            "the CPU cases that CPU/GPU ratios need (copy, epoch, engine epoch, train)",
            cpu_part,
        ),
        "bench-cuda-runs": (
            "the tutorial's run, inference batches and engine epochs at 40 … 1e8 on cuda, "
            "eager and batched",
            BenchPart("cuda", "train,inference,engine_epoch", "eager,batched", CUDA_SIZES,
                      quick=True),
        ),
        # Last of the bench steps: each size is a compile, and a budget that runs out here
        # loses compiled cases only.
        "bench-cuda-compiled": (
            "the compiled engine's run and epochs at 40, 1e4, 1e6, 1e8 on cuda",
            BenchPart("cuda", "train,engine_epoch", "compiled", CUDA_COMPILED_SIZES, quick=True),
        ),
    }  # fmt: skip
    if ctx.target is not None:
        # A rehearsal proves the plumbing: eager float32 on the CPU (a compile there takes
        # most of the step's budget on a shared 2-core machine).
        part = (
            BenchPart("cpu", "target_step,target_inference", "eager", (), quick=True,
                      dtypes="float32", threads="1")
            if rehearsal
            else BenchPart("cuda,cpu", "target_step,target_inference", "eager,compiled", (),
                           quick=True, dtypes="float32,float64")
        )  # fmt: skip
        parts = {"bench-target": (f"the target's step and inference on {part.devices}, "
                                  f"{part.engines.replace(',', ' and ')}", part)}  # fmt: skip
    steps = []
    if wheelhouse is not None:
        steps.append(
            Step("wheels", f"install what is missing from {wheelhouse}", BUDGETS["wheels"],
                 lambda t: _wheels_step(ctx, wheelhouse, t))
        )  # fmt: skip
    steps.append(Step("cuda-tests", "the CUDA tests (pytest -m cuda)", BUDGETS["cuda-tests"],
                      lambda t: _cuda_tests_step(ctx, t)))  # fmt: skip
    for name, (description, part) in parts.items():
        steps.append(
            Step(name, description, BUDGETS[name],
                 lambda t, n=name, p=part: _bench_step(ctx, n, p, t))
        )  # fmt: skip
    return [
        *steps,
        Step("repro", "the target's repro matrix on cuda against cpu" if ctx.target else
             "the repro matrix on cuda against cpu: TF32 off/on, deterministic on/off, two "
             "processes",
             BUDGETS["repro-target" if ctx.target else
                     "repro-rehearsal" if rehearsal else "repro"],
             lambda t: _repro_step(ctx, t)),
        Step("report", "the HTML report of everything above", BUDGETS["report"],
             lambda t: _report_step(ctx, archive_name, t)),
        Step("archive", "summary.json, summary.md and one archive of everything, to bring back",
             BUDGETS["archive"], lambda t: archive(), always=True),
    ]  # fmt: skip


def run_gpu_job(
    out: str | Path,
    bring_back: str | Path | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    wheelhouse: str | Path | None = None,
    machine: str | None = None,
    on_step: StepCallback | None = None,
    on_done: DoneCallback | None = None,
    target: str | None = None,
) -> GpuRunResult:
    """Run every step under ``out``; the files to carry home end in ``bring_back`` (default
    ``out/bring-back``). Bad input raises before any work: a non-empty folder, a budget of
    nothing, a wheelhouse without wheels."""
    from linreg.machine import default_machine_name, validate_machine_name

    started = time.monotonic()
    out = Path(out)
    bring_back = Path(bring_back) if bring_back is not None else out / BRING_BACK_FOLDER
    if not isinstance(budget_seconds, (int, float)) or not 60 <= budget_seconds <= 3600:
        raise ConfigError("budget_seconds", f"must be in [60, 3600], got {budget_seconds!r}")
    check_new_folder(out)
    if bring_back.resolve() != (out / BRING_BACK_FOLDER).resolve():
        check_new_folder(bring_back, "--bring-back")
        if bring_back.resolve().is_relative_to(out.resolve()):
            raise OutputError(f"--bring-back {bring_back}: inside --out; leave it out for "
                              f"{out / BRING_BACK_FOLDER}")  # fmt: skip
    wheels = Path(wheelhouse) if wheelhouse is not None else None
    if wheels is not None and not any(wheels.glob("*.whl")):
        raise ConfigError("wheelhouse", f"{wheels}: holds no .whl files (nox -s wheelhouse)")
    machine = validate_machine_name(machine) if machine else default_machine_name()
    for folder in (out / "logs", bring_back):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{folder}: cannot be created ({exc.strerror or exc})") from exc
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"  # a log cut off at the budget still shows where it was
    if target is not None:
        from linreg.target_loading import is_tutorial, load_target

        target = None if is_tutorial(target) else target
        if target is not None:
            location, colon, name = target.rpartition(":")
            if colon and (location.endswith(".py") or "/" in location):
                target = f"{Path(location).resolve()}:{name}"  # the children run elsewhere
            load_target(target)  # a bad target: exit 2 before any step
    ctx = Context(out=out, machine=machine, cuda_reason=cuda_absent(), env=env, target=target)
    archive_name = f"linreg-gpu-run-{machine}-{kinds.utc_stamp()}"
    results: list[JobStep] = []

    def summary() -> GpuRunSummary:
        return build_summary(ctx, results, budget_seconds, time.monotonic() - started)

    steps = plan(
        ctx, archive_name, wheels, lambda: _archive_step(ctx, bring_back, archive_name, summary)
    )

    def done(result: JobStep) -> None:
        results.append(result)
        if on_done is not None:
            on_done(result)

    try:
        run_steps(steps, budget_seconds - (time.monotonic() - started), on_step=on_step,
                  on_done=done)  # fmt: skip
    finally:
        if ctx.wheel_site is not None:
            shutil.rmtree(ctx.wheel_site, ignore_errors=True)
    return GpuRunResult(out, bring_back, machine, ctx.cuda_reason, results,
                        time.monotonic() - started)  # fmt: skip
