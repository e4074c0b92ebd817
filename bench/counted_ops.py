"""Op counts of the bench cases, counted in the bench process after every case was timed.

Each case's counted call is rebuilt from its parameters as bench/instructions.py rebuilds it
for callgrind (``make_case``): a train case's whole run (its epochs are the steps counted), an
epoch case's one epoch, an inference case's one forward pass. The count runs after the timed
rounds of every case, never inside them, and is kept in the case's
``extra_info["op_counts"]`` (linreg.results.op_counts).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from instructions import COUNTED_KINDS, make_case
from instructions import _config as case_config  # the same config make_case builds
from target_cases import make_target_case

from linreg.engines.op_counts import count_ops
from linreg.results.op_counts import OpCounts

# The extra_info fields a case's counted call is rebuilt from.
SPEC_FIELDS = ("kind", "device", "dtype", "seed", "engine", "size", "threads", "optimizer",
               "momentum", "target_spec", "code_hash", "target_size")  # fmt: skip


def count_case(fullname: str, spec: dict) -> tuple[OpCounts, float]:
    """The case's op counts, and the seconds counting took in all (set-up, warm-up, count)."""
    started = time.perf_counter()
    if spec["kind"].startswith("target_"):
        prepare, _, steps = make_target_case(spec)
        engine = spec.get("engine") or "eager"
    else:
        prepare, _ = make_case(spec)
        config = case_config(spec)
        engine = config.engine
        steps = config.epochs if spec["kind"] in ("train", "threads") else 1
    counted = count_ops(prepare, steps=steps)
    record = OpCounts.from_calls(
        case=fullname,
        engine=engine,
        device=spec["device"],
        torch_version=torch.__version__,
        steps_counted=counted.steps,
        calls=counted.calls,
        seconds=counted.seconds,
    )
    return record, time.perf_counter() - started


def count_cases(benchmarks: list[dict], say: Callable[[str], None]) -> tuple[dict, str]:
    """Each counted kind's case's op counts (the record's dict) by full name, and what was
    done. A case whose count fails is said and left without counts: its timings stand."""
    counted, seconds = {}, []
    for bench in benchmarks:
        info = bench.get("extra_info") or {}
        if info.get("kind") not in COUNTED_KINDS:
            continue
        try:
            record, took = count_case(bench["fullname"], {k: info.get(k) for k in SPEC_FIELDS})
        except Exception as exc:  # torch's and the compiler's failures have no common type
            say(f"linreg bench: {bench['fullname']}: ops not counted ({type(exc).__name__}: "
                f"{str(exc).strip()[:200]})")  # fmt: skip
            continue
        counted[bench["fullname"]] = record.to_dict()
        seconds.append(took)
    if seconds:
        say(f"linreg bench: ops counted for {len(seconds)} cases in {sum(seconds):.1f} s "
            f"(after the timed rounds)")  # fmt: skip
    return counted, "counted by a TorchDispatchMode" if counted else "no case to count"
