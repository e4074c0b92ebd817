"""Op counts for the tests: records of a step's ops, and bench files that keep them as the bench
suite does (``extra_info.op_counts``)."""

from __future__ import annotations

import json
from pathlib import Path

from linreg.results.op_counts import OP_COUNTS_KEY, OpCounts

STEPS = 500
# The eager train case's step as the counter sees it, a few of its ops: (op, file, line,
# function, calls a step).
STEP = (
    ("aten::addmm", "linreg/model.py", 23, "forward", 1),
    ("aten::mm", "linreg/engines/eager.py", 70, "loop", 1),
    ("aten::sum", "linreg/engines/eager.py", 70, "loop", 1),
    ("aten::add_", "linreg/engines/eager.py", 71, "loop", 2),
)
# A plant from outside the package, in SGD's step: exp(p).sum() of each of two parameters.
PLANTED = (
    ("aten::exp", "sitecustomize.py", 12, "_planted_step", 2),
    ("aten::sum", "sitecustomize.py", 12, "_planted_step", 2),
)


def op_record(
    sites=STEP, case: str = "case", device: str = "cpu", torch: str = "2.13.0",
    engine: str = "eager", steps: int = STEPS,
) -> OpCounts:  # fmt: skip
    """The record of ``steps`` steps that each make ``sites``' calls."""
    calls = [
        type("Call", (), {"op": op, "file": file, "line": line, "function": function,
                          "code": f"# {function}", "graph": False, "calls": per_step * steps})
        for op, file, line, function, per_step in sites
    ]  # fmt: skip
    return OpCounts.from_calls(case, engine, device, torch, steps, calls, 0.3)


def with_op_counts(path: Path, records: dict[str, OpCounts]) -> Path:
    """The bench file at ``path`` with each named case's op counts kept in its extra_info."""
    data = json.loads(path.read_text())
    for bench in data["benchmarks"]:
        record = records.get(bench["fullname"])
        if record is not None:
            bench["extra_info"][OP_COUNTS_KEY] = record.to_dict()
    path.write_text(json.dumps(data))
    return path
