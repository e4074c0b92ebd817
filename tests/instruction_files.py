"""Synthetic bench files for the instruction gate's tests: one stack (the CI machine's kind), two
hosts of it, and pytest-benchmark files built the way tests/test_speed_verdicts.py builds them,
with a fingerprint and instruction counts."""

from __future__ import annotations

import json
from pathlib import Path

TRAIN = "bench_train.py::bench_train[cpu-float32-seed42-eager]"
INFER = "bench_inference.py::bench_inference[cpu-float32-seed42-eager-n1000]"
PYTEST_ID = "Linux-CPython-3.11-64bit"

# One stack (the CI machine's kind), and the parts of a fingerprint that say which host it ran on.
STACK = {
    "torch": "2.13.0+cpu",
    "torch_git": "cf30153c4c131c8164ee7798e5022d810682e2cb",
    "torch_debug": False,
    "cuda": None,
    "python": "3.11.7",
    "python_implementation": "CPython",
    "os": "Linux-6.1.0-28-cloud-amd64-x86_64-with-glibc2.36",
    "machine": "x86_64",
    "torch_cpu_capability": "AVX512",
}
HOST_A = {"cpu": "AMD EPYC", "cpu_count": 2, "cpu_signature": "family 25 model 1 stepping 1"}
HOST_B = {"cpu": "AMD EPYC 7B13 64-Core Processor", "cpu_count": 8, "cpu_l3_cache": "32768 KB"}
KEY = "torch-2.13.0+cpu-gcf30153-cpython-3.11.7-linux-x86_64-avx512"


def bench_json(
    path: Path,
    instructions: dict[str, float],
    environment: dict,
    machine: str = "amd-epyc-2c",
    session: str = "s1",
    when: str = "2026-11-29T10:00:00",
    counted: str = "counted by callgrind",
) -> Path:
    """A pytest-benchmark file of the suite, with a fingerprint and instruction counts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    benchmarks = [
        {
            "name": case.split("::")[-1],
            "fullname": case,
            "stats": {"data": [0.04, 0.041, 0.042]},
            "extra_info": {"instructions": count} if count else {},
        }
        for case, count in instructions.items()
    ]
    info = {
        "linreg_machine": machine,
        "linreg_session": session,
        "linreg_process": 0,
        "linreg_environment": environment,
        "linreg_instructions": counted,
    }
    path.write_text(json.dumps({"machine_info": info, "benchmarks": benchmarks, "datetime": when}))
    return path
