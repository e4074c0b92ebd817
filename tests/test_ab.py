"""`linreg ab`: interleaved processes of two stacks, one speed verdict, files the report reads.

The same interpreter on both sides (an A/A): what is checked is the command's plumbing, its
output and its files, not a speed figure (tests/test_gate_calibration.py measures those).
"""

from __future__ import annotations

import json
import sys

from linreg.cli import main
from linreg.cli.console import console


def test_ab_of_one_stack_with_itself_writes_both_sides_and_one_verdict(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(console, "width", 80)
    out = tmp_path / "ab"
    args = ["ab", "--candidate-python", sys.executable, "--processes", "2", "--kinds", "train",
            "--no-repro", "--no-instructions", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("torch") >= 2 and "reference: Python" in printed
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
    verdict = json.loads((out / "speed-verdict.json").read_text())
    assert verdict["kind"] == "speed-verdict" and verdict["verdict"] == "undecided"
    # The result set is one the report reads.
    assert main(["report", str(out), "--out", str(tmp_path / "report.html")]) == 0
    assert (tmp_path / "report.html").stat().st_size > 100_000


def test_ab_refuses_one_process_a_side_before_running_anything(tmp_path, capsys):
    out = tmp_path / "ab"
    args = ["ab", "--candidate-python", sys.executable, "--processes", "1", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--processes" in err and not out.exists()
