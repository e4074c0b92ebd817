"""A planted extra op in a target's step (a copy of the target file with one more op): its
cases are another version of the target (a new code hash), so nothing compares them silently;
compared as asked, the gate fails on the step's op counts (any host) and on its instruction
counts (where Valgrind is present), and `linreg explain` names the op and its line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from linreg.cli import main
from linreg.compare.explain_cases import explain_case
from tests.target_files import USER_TARGET, write

REPO_ROOT = Path(__file__).resolve().parent.parent
PLANTED = (
    USER_TARGET
    + """
    def forward(self, model, inputs):
        inputs.repeat(1000, 1).exp().sum()  # planted: more work every step
        return model(inputs)
"""
)


def _bench(folder: Path, text: str, *args: str) -> Path:
    """The target's target_step case, benched from its own folder into ``folder / 'bench'``."""
    (folder / "bench").mkdir(parents=True)
    path = write(folder, "model.py", text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "-q", "-p", "no:cacheprovider", "--quick",
         f"--target={path}:Net", "--kinds=target_step", "--op-counts=yes", "--machine=planted",
         f"--benchmark-storage=file://{folder / 'storage'}",
         f"--benchmark-json={folder / 'bench' / 'bench.json'}", *args],
        cwd=REPO_ROOT, env={**env, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder / "bench"


def _compare_and_explain(clean: Path, planted: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["compare", str(clean), str(planted), "--fail-on-regression", "10%"]) == 1
    compared = " ".join(capsys.readouterr().out.split())
    assert "another version of the target net (code hash" in compared
    assert main(["explain", str(clean), str(planted), "--case", "target_step"]) == 0
    explained = " ".join(capsys.readouterr().out.split())
    # The op and the planted line that made it, as the record holds them (the terminal's table
    # wraps a long line of code across its cells).
    result = explain_case(clean, planted, "target_step")
    (exp,) = [change for change in result.ops.changes if change.op == "aten::exp"]
    (site,) = exp.sites
    assert (Path(site.file).name, site.code) == (
        "model.py",
        "inputs.repeat(1000, 1).exp().sum()  # planted: more work every step",
    ), site
    assert exp.candidate_per_step > exp.reference_per_step == 0
    return explained


@pytest.mark.slow
def test_a_planted_op_fails_the_op_gate_and_explain_names_it(tmp_path, capsys):
    clean = _bench(tmp_path / "clean", USER_TARGET, "--instructions=no")
    planted = _bench(tmp_path / "planted", PLANTED, "--instructions=no")
    explained = _compare_and_explain(clean, planted, capsys)
    assert "aten::exp" in explained and "ops a step" in explained


# Two Valgrind sessions (one a version: a session loads one target), each torch's start-up under
# Valgrind: minutes on a shared 2-core machine, so with the gate's other planted faults.
@pytest.mark.calibration
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_a_planted_op_fails_the_instruction_gate_and_explain_names_it(tmp_path, capsys):
    clean = _bench(tmp_path / "clean", USER_TARGET, "--instructions=yes")
    planted = _bench(tmp_path / "planted", PLANTED, "--instructions=yes")
    explained = _compare_and_explain(clean, planted, capsys)
    assert "instructions a call" in explained and "aten::exp" in explained
