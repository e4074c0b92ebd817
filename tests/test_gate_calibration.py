"""The regression gate on this machine, against faults planted here: does it catch a slowdown
that is there, and stay quiet when there is none?

Slow (about an hour on two cores: hundreds of benchmark processes and dozens of Valgrind runs),
so it runs only when asked: `pytest -m calibration tests/test_gate_calibration.py`. Each test
writes what it measured to LINREG_CALIBRATION_OUT (default: a temporary folder), the figures
the README and the closing notes quote.

The planted fault: a copy of the checkout whose sitecustomize.py (imported by every Python
process started with the copy on its path, Valgrind's included) makes each SGD step do a few
more tiny tensor ops. One op is ~19 k instructions against ~0.62 M for the tutorial's step: 2
ops are ~+6 %, 10 ops ~+31 %.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from linreg.compare.speed import judge_sessions
from linreg.machine import default_machine_name
from linreg.results.bench_sessions import BenchSession, session_samples, sessions
from linreg.results.noise_floor import NoiseFloor
from linreg.results.resultset import load_result_set
from linreg.results.speed_verdict import FASTER, INSTRUCTIONS, SLOWER, WALL
from linreg.suites.ab import Stack, run_ab
from linreg.suites.bench_request import BenchRequest
from linreg.suites.bench_runner import run_bench_suite
from linreg.suites.bench_selection import parse_selection

pytestmark = pytest.mark.calibration

REPO = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("LINREG_CALIBRATION_OUT") or "/tmp/linreg-calibration")
COMPARISONS = int(os.environ.get("LINREG_CALIBRATION_COMPARISONS") or 10)
THRESHOLD = 0.10
TRAIN = "bench_train.py::bench_train[cpu-float32-seed42-eager]"

PLANTED = '''"""A planted fault (gate calibration): each SGD step does {ops} more tiny ops."""
import torch

_scratch = torch.ones(1)
_step = torch.optim.SGD.step


def _slower_step(self, *args, **kwargs):
    result = _step(self, *args, **kwargs)
    for _ in range({ops}):
        _scratch.mul_(1.0)
    return result


torch.optim.SGD.step = _slower_step
'''


def record(name: str, data: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=1))


def planted_checkout(folder: Path, ops: int) -> Path:
    """A copy of the checkout's code whose every process runs the planted fault."""
    for part in ("linreg", "bench"):
        shutil.copytree(REPO / part, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "sitecustomize.py").write_text(PLANTED.format(ops=ops))
    return folder


def flagged(verdicts) -> list[str]:
    return [f"{c.case} {c.metric} {c.outcome}" for c in verdicts if c.outcome in (SLOWER, FASTER)]


def single(session: BenchSession, index: int) -> BenchSession:
    return BenchSession(session.machine, f"{session.session}/{index}", (session.files[index],))


@pytest.mark.parametrize("condition", ["quiet", "loaded"])
def test_eight_aa_processes_flag_nothing_in_28_pairs(tmp_path, condition):
    load = None
    if condition == "loaded":  # another process keeps one of the two cores busy
        load = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    # Eight suites of one process each: every process counts its instructions (a session of
    # several counts in its first only), then read as one session of eight processes.
    try:
        request = BenchRequest(parse_selection(quick=True), instructions="yes")
        outcomes = [run_bench_suite(request, tmp_path) for _ in range(8)]
    finally:
        if load is not None:
            load.kill()
    assert all(o.exit_code == 0 for o in outcomes)
    found = sessions(load_result_set(outcomes[0].storage).bench_files)
    session = BenchSession(found[0].machine, "aa", tuple(f for s in found for f in s.files))
    pairs = {}
    for i, j in itertools.combinations(range(session.processes), 2):
        verdict = judge_sessions(single(session, i), single(session, j), threshold=THRESHOLD)
        pairs[f"{i}-{j}"] = flagged(verdict.cases)
    noise = NoiseFloor.measure(session.machine, session_samples(session))
    record(f"aa-{condition}", {"pairs": pairs, "noise": noise.to_dict()})
    assert len(pairs) == 28 and not any(pairs.values()), pairs
    assert noise.instructions and max(noise.instructions.values()) <= 0.005, noise.instructions


def ab(tmp_path: Path, ops: int, processes: int, index: int):
    candidate = planted_checkout(tmp_path / f"planted-{index}", ops)
    result = run_ab(
        Stack("reference", Path(sys.executable), REPO),
        Stack("candidate", Path(sys.executable), candidate),
        # The train case alone: the fault is in SGD's step; the quick profile's inference cases
        # would only lengthen each comparison (their A/A behaviour is the A/A test's).
        parse_selection(kinds="train", quick=True),
        tmp_path / f"ab-{index}",
        machine=default_machine_name(),
        processes=processes,
        threshold=THRESHOLD,
        repro_args=None,
    )
    assert not result.failures, result.failures
    return result.speed


def test_a_planted_30_percent_slowdown_is_caught_by_wall_time_and_instructions(tmp_path):
    rows = []
    for index in range(COMPARISONS):
        speed = ab(tmp_path, ops=10, processes=8, index=index)
        train = {c.metric: c for c in speed.cases if c.case == TRAIN}
        rows.append({m: {"ratio": c.ratio, "p_adjusted": c.p_adjusted, "verdict": c.outcome,
                         "ci": c.ci} for m, c in train.items()})  # fmt: skip
        record("planted-30", {"comparisons": rows})
    by_wall = sum(r[WALL]["verdict"] == SLOWER for r in rows)
    by_instructions = sum(r[INSTRUCTIONS]["verdict"] == SLOWER for r in rows)
    assert by_wall >= 0.9 * COMPARISONS and by_instructions == COMPARISONS, rows


def test_a_planted_5_percent_slowdown_is_caught_by_instructions(tmp_path):
    rows = []
    for index in range(COMPARISONS):
        speed = ab(tmp_path, ops=2, processes=2, index=index)
        [count] = [c for c in speed.cases if c.case == TRAIN and c.metric == INSTRUCTIONS]
        rows.append({"ratio": count.ratio, "verdict": count.outcome})
        record("planted-5", {"comparisons": rows})
    assert sum(r["verdict"] == SLOWER for r in rows) == COMPARISONS, rows
