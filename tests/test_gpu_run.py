"""`linreg gpu-run`: the time budget, the bounded child processes, the summary's figures, the
archive to bring back, and the whole command rehearsed on a machine without CUDA."""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

from linreg.cli import main
from linreg.errors import LinregError
from linreg.jobs import gpu_run, gpu_summary
from linreg.jobs.gpu_run import (
    BRING_BACK_FILE_BYTES,
    BRING_BACK_FILES,
    DEFAULT_BUDGET_SECONDS,
    junit_tally,
)
from linreg.jobs.steps import Outcome, Step, run_steps
from linreg.processes import TIMED_OUT, run_bounded
from linreg.results.archive import write_archive
from linreg.results.bench_file import BenchCase
from linreg.results.gpu_run_summary import GpuRunSummary
from linreg.results.job_steps import OK
from linreg.results.load import load_result

CUDA_STEPS = ("cuda-tests", "bench-cuda-sweep", "bench-cuda-runs", "bench-cuda-compiled")


class FakeClock:
    """Seconds that pass only when a step says so: budgets tested without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def step(self, name: str, budget: float, takes: float, ran: list, always=False) -> Step:
        def run(timeout: float) -> Outcome:
            ran.append((name, timeout))
            self.now += takes
            return Outcome(OK, f"{name} done")

        return Step(name, name, budget, run, always=always)


def test_a_step_whose_budget_exceeds_the_time_left_is_skipped_with_a_message():
    clock, ran = FakeClock(), []
    steps = [
        clock.step("first", 50, takes=45, ran=ran),
        clock.step("second", 40, takes=10, ran=ran),
        clock.step("third", 10, takes=5, ran=ran),
        clock.step("archive", 20, takes=1, ran=ran, always=True),
    ]
    results = run_steps(steps, 100, clock=clock)
    # 100 s: the archive's 20 are held back; after the first, 35 are left: too few for 40.
    assert [r.status for r in results] == ["ok", "skipped", "ok", "ok"]
    assert results[1].detail == "time is short: it needs 40 s, 35 s of the 100 s budget are left"
    assert [name for name, _ in ran] == ["first", "third", "archive"]
    assert ran[0][1] == 50  # each step is given its own budget, never more


def test_the_archive_runs_even_when_everything_before_it_ran_long():
    clock, ran = FakeClock(), []
    steps = [clock.step("long", 80, takes=200, ran=ran),
             clock.step("archive", 20, takes=1, ran=ran, always=True)]  # fmt: skip
    assert [r.status for r in run_steps(steps, 100, clock=clock)] == ["ok", "ok"]


def test_a_failing_step_is_a_finding_and_the_next_steps_still_run():
    def broken(timeout: float) -> Outcome:
        raise LinregError("no such folder")

    clock, ran = FakeClock(), []
    steps = [Step("broken", "broken", 10, broken), clock.step("next", 10, takes=1, ran=ran)]
    results = run_steps(steps, 100, clock=clock)
    assert [(r.status, r.detail) for r in results] == [
        ("failed", "no such folder"), ("ok", "next done"),
    ]  # fmt: skip


def test_the_default_plan_fits_its_budget_with_the_archive_held_back(tmp_path):
    ctx = gpu_run.Context(tmp_path, "machine", None, {})
    steps = gpu_run.plan(ctx, "name", None, lambda: Outcome(OK, ""))
    assert sum(s.budget_seconds for s in steps) <= DEFAULT_BUDGET_SECONDS < 8 * 60
    assert [s.name for s in steps if s.always] == ["archive"] == [steps[-1].name]
    assert [s.name for s in steps][:1] == ["cuda-tests"]
    with_wheels = gpu_run.plan(ctx, "name", tmp_path, lambda: Outcome(OK, ""))
    assert sum(s.budget_seconds for s in with_wheels) <= DEFAULT_BUDGET_SECONDS


# The caller's own SIGINT: handled (a foreground command), or ignored (started as `nohup linreg
# ... &` or by a script's `&`, which a child would inherit across exec).
@pytest.mark.parametrize("callers_sigint", ["handled", "ignored"])
def test_a_child_stopped_at_its_limit_is_interrupted_and_keeps_what_it_saved(
    tmp_path, callers_sigint
):
    saved = tmp_path / "saved"
    code = (
        "import pathlib, time\n"
        "try:\n    time.sleep(60)\n"
        f"except KeyboardInterrupt:\n    pathlib.Path({str(saved)!r}).write_text('kept')\n"
    )
    ours = signal.default_int_handler if callers_sigint == "handled" else signal.SIG_IGN
    handler = signal.signal(signal.SIGINT, ours)
    try:
        done = run_bounded([sys.executable, "-c", code], timeout_s=1, grace_s=20)
    finally:
        signal.signal(signal.SIGINT, handler)
    assert done.timed_out and done.exit_code == TIMED_OUT
    assert saved.read_text() == "kept"
    assert done.seconds < 20  # it stopped when asked, not at the end of the grace


def test_a_child_that_ignores_the_interrupt_is_killed_after_the_grace(tmp_path):
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)\n"
    done = run_bounded([sys.executable, "-c", code], timeout_s=1, grace_s=1,
                       log_path=tmp_path / "log")  # fmt: skip
    assert done.timed_out and done.seconds < 30


def test_a_child_within_its_limit_gives_its_own_exit_code(tmp_path):
    done = run_bounded([sys.executable, "-c", "print('hi'); raise SystemExit(3)"], timeout_s=60,
                       log_path=tmp_path / "log")  # fmt: skip
    assert (done.exit_code, done.timed_out) == (3, False)
    assert (tmp_path / "log").read_text() == "hi\n"


def test_junit_counts_outcomes_and_skip_reasons(tmp_path):
    junit = tmp_path / "j.xml"
    junit.write_text(
        '<testsuites><testsuite><testcase name="a"/>'
        '<testcase name="b"><skipped message="needs CUDA"/></testcase>'
        '<testcase name="c"><skipped message="needs CUDA"/></testcase>'
        '<testcase name="d"><failure message="boom"/></testcase></testsuite></testsuites>'
    )
    tally = junit_tally(junit)
    assert (tally.passed, tally.failed, tally.errors, tally.skipped) == (1, 1, 0, 2)
    assert tally.reasons == "2× needs CUDA"
    assert junit_tally(tmp_path / "absent.xml").passed == 0


@pytest.mark.parametrize(
    ("points", "size", "says"),
    [
        ([(40, 10, 50), (1000, 20, 50), (10**5, 900, 60)], 10**5, "cuda faster from 100000"),
        ([(40, 60, 50), (1000, 90, 50)], 40, "from the smallest (40)"),
        ([(40, 10, 50), (1000, 20, 50)], None, "cpu faster at every size"),
        # Faster at one size, slower again above it: not a crossover.
        ([(40, 10, 50), (1000, 90, 50), (10**5, 100, 120)], None, "cpu faster at every size"),
        ([], None, "no size measured on both"),
    ],
)
def test_the_crossover_is_where_cuda_wins_from_then_on(points, size, says):
    found, sentence = gpu_summary.crossover(points)
    assert found == size and says in sentence


def case(kind, device, dtype, size, epoch_us, engine=None, **extra) -> BenchCase:
    info = {"kind": kind, "device": device, "dtype": dtype, "size": size, "engine": engine,
            "epoch_us": epoch_us, **extra}  # fmt: skip
    return BenchCase(kind, f"{kind}-{device}-{dtype}-{size}", {"data": [1.0]}, (1.0,), info)


def test_summary_tables_from_bench_cases():
    floor = {"min_bytes": 8 * 10**8, "copy_gb_per_s": 4000.0}
    cases = [
        case("epoch", "cpu", "float32", 40, 20.0),
        case("epoch", "cpu", "float32", 10**5, 500.0),
        case("epoch", "cuda", "float32", 40, 60.0),
        case("epoch", "cuda", "float32", 10**5, 70.0),
        case("epoch", "cuda", "float32", 10**8, 600.0, device_epoch_us=590.0, **floor),
        case("train", "cpu", "float64", None, 30.0, engine="eager"),
        case("train", "cuda", "float64", None, 90.0, engine="eager"),
    ]
    [row] = gpu_summary.crossover_table(cases)
    assert (row.dtype, row.crossover_samples) == ("float32", 10**5)
    assert [p.samples for p in row.points] == [40, 10**5]
    [floor_row] = gpu_summary.floor_table(cases)
    assert floor_row.samples == 10**8 and floor_row.floor_us == pytest.approx(200.0)
    assert floor_row.floor_multiple == pytest.approx(3.0)
    [ratio] = gpu_summary.train_ratios(cases)
    assert ratio.cpu_over_cuda == pytest.approx(1 / 3)


def test_an_archive_too_large_for_one_file_comes_in_parts_that_cat_joins(tmp_path):
    folder = tmp_path / "run"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "x.bin").write_bytes(random.Random(0).randbytes(300_000))  # incompressible
    (folder / ".half-written.partial").write_text("never a result")
    parts = write_archive(folder, tmp_path / "out.tar.gz", "top", part_bytes=100_000)
    assert len(parts) > 1 and all(p.stat().st_size <= 100_000 for p in parts)
    assert not (tmp_path / "out.tar.gz").exists()
    joined = b"".join(p.read_bytes() for p in parts)
    with tarfile.open(fileobj=io.BytesIO(joined), mode="r:gz") as tar:
        assert tar.getnames() == ["top/a/x.bin"]


def test_bring_back_problems_are_named(tmp_path):
    for i in range(BRING_BACK_FILES):
        (tmp_path / f"f{i}").write_text("x")
    (tmp_path / "bad name!").write_text("x")
    with (tmp_path / "big").open("wb") as handle:
        handle.truncate(BRING_BACK_FILE_BYTES + 1)
    problems = gpu_run.bring_back_problems(tmp_path)
    assert f"10 files, more than {BRING_BACK_FILES}" in problems
    assert "big: larger than 16 MiB" in problems
    assert any(p.startswith("bad name!: a name of other characters") for p in problems)


def test_the_report_step_names_what_is_missing():
    assert gpu_run.report_missing([]) == ["pandas", "plotly"]
    assert gpu_run.report_missing(sys.path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget-seconds", "10"], "--budget-seconds: must be in [60, 3600], got 10.0"),
        (["--wheelhouse", "{tmp}"], "holds no .whl files"),
        (["--machine", "Bad Name"], "--machine: 'Bad Name' is not a machine name"),
    ],
)
def test_bad_input_is_exit_2_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["gpu-run", "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.rglob("*.json"))


def test_a_non_empty_out_is_refused(tmp_path, capsys):
    (tmp_path / "keep").write_text("x")
    assert main(["gpu-run", "--out", str(tmp_path)]) == 2
    assert "never overwritten" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA gpu-run is the real thing")
def test_the_rehearsal_names_every_cuda_step_skipped_and_writes_what_can_come_back(tmp_path, capfd):
    out, bring_back = tmp_path / "run", tmp_path / "OUT"
    assert main(["gpu-run", "--out", str(out), "--bring-back", str(bring_back)]) == 0
    err = capfd.readouterr().err
    summary = load_result(bring_back / "summary.json").value
    steps = {s.name: s for s in summary.steps}
    assert summary.cuda is False and summary.cuda_reason.startswith("no CUDA")
    for name in CUDA_STEPS:
        assert steps[name].status == "skipped", steps[name]
        assert "torch.cuda.is_available() is False" in steps[name].detail
        assert f"{name}: " in err and "skipped in" in err
    assert steps["repro"].status == "ok"
    assert steps["repro"].cuda_skipped == summary.cuda_reason
    assert steps["bench-cpu"].status == "ok"
    # The command keeps to its own budget: every step, and the whole, within what it was given.
    assert all(s.seconds <= s.budget_seconds + 5 for s in summary.steps)
    assert summary.seconds < summary.budget_seconds
    print(f"rehearsal: {summary.seconds:.0f} s")

    files = sorted(bring_back.iterdir())
    assert gpu_run.bring_back_problems(bring_back) == []
    assert len(files) <= BRING_BACK_FILES
    assert all(re.match(r"^[A-Za-z0-9._-]+$", p.name) for p in files)
    [archive] = [p for p in files if p.name.endswith(".tar.gz")]
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    top = archive.name.removesuffix(".tar.gz")
    assert f"{top}/summary.json" in names and f"{top}/summary.md" in names
    assert any(n.startswith(f"{top}/bench/") and n.endswith(".json") for n in names)
    assert any(n.endswith("/checks.json") for n in names)
    assert (bring_back / "summary.md").read_text().startswith("# linreg gpu-run on ")


def test_the_default_bring_back_folder_is_inside_out_and_left_out_of_its_archive(tmp_path):
    ctx = gpu_run.Context(tmp_path, "m", "no CUDA: test", {})
    (tmp_path / "bench").mkdir()
    bring_back = tmp_path / gpu_run.BRING_BACK_FOLDER
    bring_back.mkdir()
    outcome = gpu_run._archive_step(
        ctx, bring_back, "name",
        lambda: GpuRunSummary("m", False, "no CUDA: test", "OK", 1.0, 450.0, ()),
    )  # fmt: skip
    assert outcome.status == "ok", outcome.detail
    with tarfile.open(bring_back / "name.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["name/summary.json", "name/summary.md"]
    assert sorted(p.name for p in bring_back.iterdir()) == [
        "name.tar.gz", "summary.json", "summary.md",
    ]  # fmt: skip
    assert load_result(tmp_path / "summary.json").value.verdict == "OK"


def probe_wheel(folder: Path, name: str = "linreg_probe_pkg") -> Path:
    """A pure-Python wheel of a package no Python here has."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 1\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, text in files.items():
            wheel.writestr(member, text)
        wheel.writestr(f"{dist}/RECORD", "".join(f"{m},,\n" for m in [*files, f"{dist}/RECORD"]))
    return path


def test_the_wheelhouse_installs_only_what_this_python_lacks_for_the_run(tmp_path):
    wheels = tmp_path / "whl"
    wheels.mkdir()
    probe_wheel(wheels)
    (wheels / "plotly-0.0.1-py3-none-any.whl").write_bytes(b"not read: plotly is installed")
    ctx = gpu_run.Context(tmp_path, "m", None, {"PYTHONPATH": "/elsewhere"})
    (tmp_path / "logs").mkdir()
    outcome = gpu_run._wheels_step(ctx, wheels, 60)
    try:
        assert outcome.status == "ok", outcome.detail
        assert outcome.detail.startswith("installed linreg_probe_pkg into")
        assert (ctx.wheel_site / "linreg_probe_pkg" / "__init__.py").is_file()
        assert not (ctx.wheel_site / "plotly").exists()
        assert ctx.env["PYTHONPATH"] == f"{ctx.wheel_site}{os.pathsep}/elsewhere"
    finally:
        shutil.rmtree(ctx.wheel_site, ignore_errors=True)


# What a stock CUDA image's Python may lack (the device's has torch, pandas, scipy, rich, typer,
# pytest and pytest-benchmark): a CUDA test module that imports one fails its collection there,
# and with it gpu-run's cuda-tests step.
REPO = Path(__file__).resolve().parent.parent
NOT_ON_A_CUDA_IMAGE = ("hypothesis", "plotly", "playwright", "kaleido")
COLLECT_WITHOUT = """
import importlib.abc, sys
import pytest

class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in sys.argv[1].split(","):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, Missing())
sys.exit(pytest.main(["--collect-only", "-q", "-m", "cuda", "-p", "no:cacheprovider",
                      "-p", "no:hypothesispytest", *sys.argv[2:]]))
"""


def test_the_cuda_test_modules_collect_without_what_a_cuda_image_lacks():
    files = gpu_run.cuda_test_files(REPO / "tests")
    assert len(files) >= 5
    done = subprocess.run(
        [sys.executable, "-c", COLLECT_WITHOUT, ",".join(NOT_ON_A_CUDA_IMAGE), *map(str, files)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "error" not in done.stdout.lower()
