"""`linreg run`'s steps overlap: the bench's Valgrind process starts first, the repro matrix runs
once the bench cases are timed, and the record keeps the steps' usual order. Stopped while it
counts, the job stops every child and leaves nothing half-written. bench/job_overlap.py, the
benchmark of that overlap, is smoke-tested here with made-up timings (its real run is
`nox -s perf`)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import linreg.jobs.main_job as main_job
from linreg.jobs.steps import Outcome
from linreg.results.job_steps import OK
from linreg.results.load import load_result
from tests.foreground import as_foreground

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 120.0  # far beyond what any wait below takes on a loaded 2-core machine


class _FakeCounter:
    """Stands for the bench's Valgrind process: the cases are timed once the bench says so."""

    def __init__(self) -> None:
        self.timed = threading.Event()
        self.stopped = False

    @property
    def cases_timed(self) -> bool:
        return self.timed.is_set()

    def stop(self) -> None:
        self.stopped = True


def test_repro_runs_while_the_bench_counts_and_the_steps_are_recorded_in_order(
    tmp_path, monkeypatch
):
    counter = _FakeCounter()
    repro_started = threading.Event()
    events: list[str] = []

    def bench(out, devices, baseline, made):
        assert made.counter is counter  # the job hands its Valgrind process to the bench
        events.append("bench: cases timed")
        counter.timed.set()
        # Still counting: the repro step must start meanwhile, not after.
        assert repro_started.wait(WAIT_S), "the repro step waited for the whole bench"
        events.append("bench: counted")
        return Outcome(OK, "bench detail")

    def repro(out, devices, made):
        events.append("repro")
        repro_started.set()
        return Outcome(OK, "repro detail")

    def train(out, devices, made):
        events.append("train")
        return Outcome(OK, "train detail")

    monkeypatch.setattr(main_job, "_start_counter", lambda folder, baselines: counter)
    monkeypatch.setattr(main_job, "_counted_names", lambda baseline: ["a case"])
    monkeypatch.setattr(main_job, "_train_step", train)
    monkeypatch.setattr(main_job, "_bench_step", bench)
    monkeypatch.setattr(main_job, "_repro_step", repro)
    result = main_job.run_main_job(tmp_path / "job")
    assert events == ["train", "bench: cases timed", "repro", "bench: counted"]
    assert counter.stopped
    order = ["train", "bench", "speed", "repro", "report"]
    assert [step.name for step in result.steps] == order
    record = load_result(tmp_path / "job" / "job.json").value
    assert [step.name for step in record.steps] == order[:-1]  # written by the report step
    assert [step.detail for step in record.steps[:2]] == ["train detail", "bench detail"]


def test_the_report_s_libraries_load_while_the_bench_still_counts(tmp_path, monkeypatch):
    """After the repro the job only waits for the count: the report's imports (plotly, pandas)
    happen then, not after the count, on the critical path."""
    counter = _FakeCounter()
    loaded = threading.Event()

    def bench(out, devices, baseline, made):
        counter.timed.set()
        # Still counting: the report's libraries must load meanwhile.
        assert loaded.wait(30.0), "the report's libraries waited for the whole bench"
        return Outcome(OK, "")

    monkeypatch.setattr(main_job, "_start_counter", lambda folder, baselines: counter)
    monkeypatch.setattr(main_job, "_counted_names", lambda baseline: ["a case"])
    monkeypatch.setattr(main_job, "_train_step", lambda out, devices, made: Outcome(OK, ""))
    monkeypatch.setattr(main_job, "_bench_step", bench)
    monkeypatch.setattr(main_job, "_repro_step", lambda out, devices, made: Outcome(OK, ""))
    monkeypatch.setattr(main_job, "_load_report_modules", loaded.set)
    result = main_job.run_main_job(tmp_path / "job")
    [bench_step] = [step for step in result.steps if step.name == "bench"]
    assert bench_step.status == OK, bench_step.detail


def test_a_report_library_that_fails_to_load_early_does_not_fail_the_bench_step(
    tmp_path, monkeypatch
):
    def broken(name):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(main_job, "_start_counter", lambda folder, baselines: None)
    monkeypatch.setattr(main_job, "_train_step", lambda out, devices, made: Outcome(OK, ""))
    monkeypatch.setattr(main_job, "_bench_step", lambda out, devices, b, made: Outcome(OK, ""))
    monkeypatch.setattr(main_job, "_repro_step", lambda out, devices, made: Outcome(OK, ""))
    monkeypatch.setattr(main_job.importlib, "import_module", broken)
    result = main_job.run_main_job(tmp_path / "job")
    [bench_step] = [step for step in result.steps if step.name == "bench"]
    assert bench_step.status == OK, bench_step.detail


def test_without_counting_the_repro_step_waits_for_the_whole_bench(tmp_path, monkeypatch):
    """No Valgrind process (no baseline, no Valgrind, LINREG_BENCH_INSTRUCTIONS=0): the
    timed cases would share their core with the repro workers, so nothing overlaps them."""
    events: list[str] = []

    def bench(out, devices, baseline, made):
        events.append("bench")
        return Outcome(OK, "")

    monkeypatch.setattr(main_job, "_start_counter", lambda folder, baselines: None)
    monkeypatch.setattr(main_job, "_train_step", lambda out, devices, made: Outcome(OK, ""))
    monkeypatch.setattr(main_job, "_bench_step", bench)

    def repro(out, devices, made):
        events.append("repro")
        return Outcome(OK, "")

    monkeypatch.setattr(main_job, "_repro_step", repro)
    main_job.run_main_job(tmp_path / "job")
    assert events == ["bench", "repro"]


def _ours(marker: Path) -> list[str]:
    """The processes whose command lines name ``marker`` (the job's folders), with their pids."""
    found = subprocess.run(["pgrep", "-af", str(marker)], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_job_stopped_while_its_bench_runs_stops_every_child(tmp_path, sig, code):
    """SIGTERM to the job alone, or Ctrl-C to its whole process group, while the bench times
    its cases and Valgrind starts: the job, its bench suite, Valgrind and its driver end,
    and nothing half-written stays in the results or in the temporary folder."""
    out, temporary = tmp_path / "job", tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(temporary)}
    job = subprocess.Popen(
        [sys.executable, "-m", "linreg", "run", "--out", str(out)], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=as_foreground,
    )  # fmt: skip
    try:
        log = out / "bench.log"
        deadline = time.monotonic() + WAIT_S
        while not (log.exists() and "bench_epoch.py" in log.read_text(errors="replace")):
            assert time.monotonic() < deadline, "the bench did not start timing its cases"
            assert job.poll() is None, job.stderr.read() if job.stderr else ""
            time.sleep(0.1)
        if sig == signal.SIGINT:
            os.killpg(job.pid, sig)  # as a terminal's Ctrl-C reaches the foreground group
        else:
            job.send_signal(sig)
        _, err = job.communicate(timeout=WAIT_S)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    assert job.returncode == code, err
    files = sorted(str(p) for p in out.rglob("*"))
    time.sleep(1)
    assert sorted(str(p) for p in out.rglob("*")) == files  # nothing writes on
    assert not [name for name in files if name.endswith(".partial")]
    assert _ours(tmp_path) == []
    # Valgrind's folder went with it (torch's own compile cache may stay: not the job's).
    left = [p.name for p in temporary.iterdir() if not p.name.startswith("torchinductor")]
    assert left == []


# --- bench/job_overlap.py ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def job_overlap():
    spec = importlib.util.spec_from_file_location("job_overlap", REPO / "bench" / "job_overlap.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["job_overlap"] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["job_overlap"]


def test_the_overlap_benchmark_reports_the_ratio_of_the_job_to_its_parts(job_overlap, tmp_path):
    parts = {"train": 1.0, "bench": 20.0, "speed": 0.1, "repro": 10.0, "report": 0.9}
    seen: list[str] = []

    def run(kind: str, out: Path) -> tuple[float, dict[str, float]]:
        seen.append(kind)
        return {"cli": 24.0, "overlapped": 22.0, "alone": 32.0}[
            kind
        ], parts if kind == "alone" else {}

    speed = job_overlap.measure(3, run, say=lambda line: None)
    # Each kind goes first once in three rounds: none always runs on a machine the others warmed.
    assert [seen[i * 3] for i in range(3)] == ["cli", "overlapped", "alone"]
    assert speed.sum_of_parts_s == pytest.approx(32.0)
    assert speed.ratio == pytest.approx(22.0 / 32.0) and speed.meets_ratio
    assert speed.cli_end_to_end_s == 24.0 and speed.meets_cli
    text = job_overlap.report(speed)
    assert "ratio 0.69 (target <= 0.8): OK" in text and "repro 10.0 s" in text


def test_the_overlap_benchmark_fails_where_the_parts_run_one_after_another(job_overlap):
    def serial(kind: str, out: Path) -> tuple[float, dict[str, float]]:
        return (32.5, {}) if kind != "alone" else (32.0, {"bench": 21.0, "repro": 11.0})

    speed = job_overlap.measure(1, serial, say=lambda line: None)
    assert not speed.meets_ratio and not speed.meets_cli
    assert "MISSED" in job_overlap.report(speed)


def test_the_overlap_benchmark_refuses_an_existing_output(job_overlap, tmp_path, capsys):
    (tmp_path / "figures.json").write_text("{}")
    with pytest.raises(SystemExit) as stopped:
        job_overlap.main(["--json", str(tmp_path / "figures.json")])
    assert stopped.value.code == 2 and "never written over" in capsys.readouterr().err
