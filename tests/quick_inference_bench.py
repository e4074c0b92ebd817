"""One run of the bench suite's quick profile a test session (tests.built_once), read by the
plumbing test (a JSON file pytest-benchmark compare reads, a cuda case skipped with its reason,
counts from the quick profile's default) and the instruction gate's (--instructions-only counts
the named case alone): the Valgrind start-up with torch, half a minute, paid once for both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.built_once import built_once

REPO_ROOT = Path(__file__).resolve().parent.parent
COUNTED = "bench_inference.py::bench_inference[cpu-float32-seed42-eager-n10]"
NOT_COUNTED = "bench_inference.py::bench_inference[cpu-float32-seed42-eager-n40]"
MACHINE = "e2e-test"


@dataclass(frozen=True)
class QuickBench:
    json_path: Path
    exit_code: int
    stdout: str
    stderr: str

    @property
    def data(self) -> dict:
        return json.loads(self.json_path.read_text())


def quick_inference_bench(request: pytest.FixtureRequest) -> QuickBench:
    """Inference on 10 and 40 samples on cpu (and cuda, hidden: skipped with its reason), the
    quick profile's instruction counting left at its default, narrowed to the 10-sample case."""

    def build(base: Path) -> None:
        # pytest-benchmark switches itself off in what looks like an xdist worker.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "bench", "--quick", "-p", "no:cacheprovider",
             "--devices=cpu,cuda", "--kinds=inference", "--sizes=10,40", f"--machine={MACHINE}",
             f"--instructions-only={COUNTED}", f"--benchmark-json={base / 'bench.json'}",
             f"--benchmark-storage=file://{base / 'storage'}", "-rs"],
            cwd=REPO_ROOT, env={**env, "PYTHONPATH": str(REPO_ROOT), "CUDA_VISIBLE_DEVICES": ""},
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        (base / "exit_code").write_text(str(done.returncode))
        (base / "stdout.txt").write_text(done.stdout)
        (base / "stderr.txt").write_text(done.stderr)

    base = built_once(request, "quick-inference-bench", build)
    read = {name: (base / f"{name}.txt").read_text() for name in ("stdout", "stderr")}
    return QuickBench(base / "bench.json", int((base / "exit_code").read_text()), **read)
