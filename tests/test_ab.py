"""`linreg ab`: interleaved processes of two stacks, one speed verdict, files the report reads.

The same interpreter on both sides (an A/A): what is checked is the command's plumbing, its
output and its files, not a speed figure (tests/test_gate_calibration.py measures those).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from linreg.cli import main
from linreg.cli.console import console
from linreg.results.run_folder import run_record
from tests.foreground import as_foreground

REPO = Path(__file__).resolve().parent.parent


def test_ab_of_one_stack_with_itself_writes_both_sides_and_one_verdict(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(console, "width", 80)
    out = tmp_path / "ab"
    args = ["ab", "--candidate-python", sys.executable, "--processes", "2", "--kinds", "train",
            "--no-repro", "--no-instructions", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert printed.count("torch") >= 2 and "reference: Python" in printed
    # One torch on both sides, said before the measuring (stderr) and in the last line.
    assert f"ab: torch {torch.__version__}" in captured.err and "on both sides" in captured.err
    assert printed.rstrip().splitlines()[-1].startswith(f"ab: OK: torch {torch.__version__}")
    # Two processes a side cannot reach alpha: said, with no interval and no verdict of change.
    [row] = [line for line in printed.splitlines() if line.startswith("train")]
    assert row.split()[1] == "wall" and row.rstrip().endswith("undecided (2 vs 2)"), row
    assert not [line for line in printed.splitlines() if line.split()[1:2] == ["instr"]]
    assert "no instruction counts" in printed
    record = json.loads((out / "ab.json").read_text())
    assert record["kind"] == "ab-result" and record["failures"] == []
    assert record["numeric"]["verdict"] == "not run"
    for role in ("reference", "candidate"):
        files = sorted((out / role / "bench").rglob("*.json"))
        assert len(files) == 2, files
        processes = {json.loads(f.read_text())["machine_info"]["linreg_process"] for f in files}
        assert processes == {0, 1}
    stacks = record["stacks"]
    assert stacks["reference"] == stacks["candidate"]
    assert stacks["reference"]["torch"] == torch.__version__
    assert stacks["reference"]["cuda"] == torch.version.cuda
    verdict = json.loads((out / "speed-verdict.json").read_text())
    assert verdict["kind"] == "speed-verdict" and verdict["verdict"] == "undecided"
    # The A/B writes the report of its folder, and says where.
    assert f"report: {out / 'report.html'}" in printed
    assert (out / "report.html").stat().st_size > 100_000


def test_ab_refuses_one_process_a_side_before_running_anything(tmp_path, capsys):
    out = tmp_path / "ab"
    args = ["ab", "--candidate-python", sys.executable, "--processes", "1", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--processes" in err and not out.exists()


FAKE_PYTHON = """#!{python}
# A stand-in for a stack's Python: it answers the torch probe, "runs" a repro matrix by copying
# prepared records, and runs a bench process as told (exit at once, or sleep with a child).
import os, shutil, subprocess, sys, time

if sys.argv[1] == "-c":
    print(os.environ.get("FAKE_TORCH", '["3.11.7", "2.13.0+cpu", null, null, null]'))
elif sys.argv[1:3] == ["-m", "linreg"]:
    target = sys.argv[sys.argv.index("--out") + 1]
    role = os.path.basename(os.path.dirname(target))
    shutil.copytree(os.path.join(os.environ["FAKE_RUNS"], role), target)
elif os.environ.get("FAKE_BENCH") == "sleep":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(os.environ["FAKE_PIDS"], "a") as pids:
        pids.write(f"{{os.getpid()}} {{child.pid}}\\n")
    time.sleep(300)
"""


@pytest.fixture
def fake_stack(tmp_path) -> tuple[Path, Path]:
    """A fake interpreter and a checkout with a bench/ suite: no torch run anywhere."""
    python = tmp_path / "fake-python"
    python.write_text(FAKE_PYTHON.format(python=sys.executable))
    python.chmod(0o755)
    root = tmp_path / "checkout"
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "conftest.py").write_text("")
    return python, root


def _ab_args(fake_stack, out: Path, *more: str) -> list[str]:
    python, root = fake_stack
    return ["ab", "--candidate-python", str(python), "--reference-python", str(python),
            "--reference-root", str(root), "--processes", "2", "--no-instructions",
            "--out", str(out), *more]  # fmt: skip


def test_ab_of_two_torch_builds_says_version_and_flavour_both_differ(
    fake_stack, tmp_path, capsys, monkeypatch
):
    # PyPI's Linux torch is a CUDA build: on a CPU machine an upgrade A/B from it changes both.
    python, _ = fake_stack
    cuda_build = tmp_path / "cuda-python"
    cuda_build.write_text(f"#!/bin/sh\nFAKE_TORCH='[\"3.11.7\", \"2.14.1+cu130\", \"13.0\", null, "
                          f"null]' exec {python} \"$@\"\n")  # fmt: skip
    cuda_build.chmod(0o755)
    monkeypatch.setattr(console, "width", 200)
    out = tmp_path / "ab"
    args = _ab_args(fake_stack, out, "--no-repro")
    args[args.index("--candidate-python") + 1] = str(cuda_build)
    assert main(args) == 0
    captured = capsys.readouterr()
    said = "torch 2.13.0+cpu against 2.14.1+cu130: version and build flavour both differ"
    # Before the measuring, with how to compare like with like; again at the end.
    assert f"ab: {said}" in captured.err
    assert "pip install torch==2.14.1 --index-url https://download.pytorch.org/whl/cpu" in (
        captured.err
    )
    assert f"ab: OK: {said}; numerics not run" in captured.out
    stacks = json.loads((out / "ab.json").read_text())["stacks"]
    assert (stacks["reference"]["flavour"], stacks["candidate"]["flavour"]) == ("cpu", "cu130")
    assert (stacks["reference"]["cuda"], stacks["candidate"]["cuda"]) == (None, "13.0")
    assert (out / "report.html").is_file()


@pytest.mark.parametrize(
    ("weight_nudge", "level", "code"),
    [(0.0, "bit-identical", 0), (0.01, "outcome-equivalent", 1), (0.5, "different", 1)],
)
def test_ab_exits_1_when_the_stacks_differ_beyond_tolerance_as_compare_does(
    tutorial_run, fake_stack, tmp_path, monkeypatch, capsys, weight_nudge, level, code
):
    runs = tmp_path / "runs"
    for role, nudge in (("reference", 0.0), ("candidate", weight_nudge)):
        record = json.loads(json.dumps(run_record(tutorial_run)))  # the fixture stays as it is
        record["final_state"]["linear.weight"]["values"][0] += nudge
        (runs / role).mkdir(parents=True)
        (runs / role / "run.json").write_text(json.dumps(record))
    monkeypatch.setenv("FAKE_RUNS", str(runs))
    out = tmp_path / "ab"
    assert main(_ab_args(fake_stack, out)) == code
    captured = capsys.readouterr()
    assert f"numerics {level}" in (captured.err if code else captured.out)
    if code:
        assert f"eager-float32-seed42-threadsall: {level}" in captured.err
        # As compare says of the same two runs.
        reference, candidate = out / "reference" / "repro", out / "candidate" / "repro"
        assert main(["compare", str(reference), str(candidate)]) == 1


def _alive(pid: int) -> bool:
    """Running, not a zombie (a container's init may leave an orphan's zombie unreaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_ab_stopped_by_a_signal_leaves_no_bench_process_running(fake_stack, tmp_path, sig, code):
    pids = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": str(REPO), "FAKE_BENCH": "sleep", "FAKE_PIDS": str(pids)}
    ab = subprocess.Popen(
        [sys.executable, "-m", "linreg", *_ab_args(fake_stack, tmp_path / "ab")],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=as_foreground,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (pids.exists() and pids.read_text().endswith("\n")):
            assert ab.poll() is None and time.monotonic() < deadline, "no bench process started"
            time.sleep(0.05)
        ab.send_signal(sig)
        assert ab.wait(timeout=60) == code, ab.stderr.read()
    finally:
        ab.kill()
    children = [int(pid) for pid in pids.read_text().split()]
    survivors = [pid for pid in children if _alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)  # not left behind by a failing test either
    assert len(children) == 2 and not survivors
