"""On CUDA, the plant from outside the package (tests/op_plant.py) is found by the op counts of
one process per side. Collected by `linreg gpu-run`'s CUDA tests on a stock CUDA image: it
imports only what that image has (torch, pytest, linreg), never hypothesis or plotly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from linreg.compare.op_delta import MOVED, op_deltas
from linreg.compare.speed import judge_ops
from linreg.results.bench_sessions import CaseSamples
from linreg.results.op_counts import OpCounts
from linreg.results.speed_verdict import OPS, SLOWER
from tests.op_plant import PLANT

REPO_ROOT = Path(__file__).resolve().parent.parent

PLANTED_CUDA_COUNT = """
import json, sys
from linreg.config import TrainConfig
from linreg.engines.op_counts import count_training
counted = count_training(TrainConfig(device="cuda", epochs=50, eval_every=25))
json.dump({"steps": counted.steps, "calls": [c.__dict__ for c in counted.calls]}, sys.stdout)
"""


@pytest.mark.cuda
def test_on_cuda_the_plant_is_found_by_op_counts_of_one_process_per_side(tmp_path):
    plant = tmp_path / "plant"
    plant.mkdir()
    (plant / "sitecustomize.py").write_text(PLANT)
    sides = {}
    for name, path in (("clean", [REPO_ROOT]), ("planted", [plant, REPO_ROOT])):
        done = subprocess.run(
            [sys.executable, "-c", PLANTED_CUDA_COUNT], cwd=REPO_ROOT, capture_output=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))}, text=True,
            check=True,
        )  # fmt: skip
        data = json.loads(done.stdout)
        calls = [type("Call", (), c) for c in data["calls"]]
        sides[name] = OpCounts.from_calls(name, "eager", "cuda", torch.__version__,
                                          data["steps"], calls)  # fmt: skip
    changed = [d for d in op_deltas(sides["clean"], sides["planted"]) if d.change != MOVED]
    assert [(d.op, d.delta) for d in changed] == [("aten::exp", 2.0), ("aten::sum", 2.0)]
    assert all(d.sites[0].file == "sitecustomize.py" for d in changed)
    # The backward runs in the autograd engine's CUDA thread: still at loss.backward().
    assert {s.code for s in sides["clean"].by_op()["aten::mm"].sites} == {"loss.backward()"}
    # Where CUDA has no instruction counts, the ops decide: one process a side.
    [verdict] = judge_ops(
        {"train": CaseSamples("train", (1.0,), ops=(sides["clean"],))},
        {"train": CaseSamples("train", (1.0,), ops=(sides["planted"],))},
    )
    assert (verdict.metric, verdict.outcome) == (OPS, SLOWER)
