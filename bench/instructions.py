"""Instructions per call of benchmark cases, counted by callgrind in ONE Valgrind process.

Instruction counts are the CPU gate: they vary by a fraction of a percent between runs where
wall time varies by tens, and a busy machine does not move them. The mechanism is PyTorch's own
(`torch.utils.benchmark`'s callgrind support): Valgrind runs with collection off, and
``torch._C._valgrind_toggle()`` switches it on around the counted calls only.

Valgrind's start-up with torch is the cost (``import torch`` takes ~3 minutes fully
instrumented), so one process serves every case, and it starts with instrumentation off
(``--instr-atstart=no``: the import at about a tenth of that), switching it on with
``callgrind_control -i on`` once torch is warm. Each case runs in a forked child, so that every
case starts from the same heap and caches whatever ran before it.

Driver (in the bench session): ``count(specs, workdir)``, each case's count per call with its
callgrind dump (kept with the results: ``linreg.results.profiles``). Worker (under Valgrind):
``python bench/instructions.py SPECS.json OUT_DIR``.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

# Kinds whose calls this module can rebuild from a case's parameters.
COUNTED_KINDS = ("train", "threads", "inference", "epoch", "target_step", "target_inference")
_SUMMARY = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


class Counted(NamedTuple):
    """One case's count: instructions per call, the calls counted, and the case's dump."""

    per_call: float
    calls: int
    dump: Path


def missing_tool() -> str | None:
    """Why instructions cannot be counted here, or None."""
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            return f"{tool} not found (Debian package valgrind)"
    return None


# --- the counted calls: each spec gives (prepare, units); prepare() returns the call counted ---


def _config(spec: dict):
    from linreg.config import TrainConfig

    return TrainConfig(
        device=spec["device"],
        dtype=spec["dtype"],
        # 42 only where the case has no seed (epoch, inference sizes): seed 0 is a seed.
        seed=42 if spec.get("seed") is None else spec["seed"],
        engine=spec.get("engine") or "eager",
        threads=spec.get("threads"),
        # Recorded by train cases of another optimizer setting than the tutorial's plain SGD.
        optimizer=spec.get("optimizer") or "sgd",
        momentum=spec.get("momentum") or 0.0,
    )


def make_case(spec: dict) -> tuple[Callable[[], Callable[[], object]], int]:
    """(prepare, calls): ``prepare()`` does the uncounted set-up and returns the counted call."""
    kind = spec["kind"]
    if kind.startswith("target_"):
        from target_cases import make_target_case

        prepare, calls, _ = make_target_case(spec)  # the target loaded by spec, here
        return prepare, calls
    if kind in ("train", "threads"):
        from linreg.engines import prepare

        config = _config(spec)
        # One call is a whole training loop (500 epochs), as the train case times it.
        return (lambda: prepare(config).loop), 1
    if kind == "inference":
        from bench_inference import inference_call

        call = inference_call(_config(spec), spec["size"])
        return (lambda: call), _calls(spec["size"])
    if kind == "epoch":
        from bench_epoch import epoch_call

        call = epoch_call(_config(spec), spec["size"])
        return (lambda: call), _calls(spec["size"])
    raise ValueError(f"instructions are not counted for the {kind!r} kind")


def _calls(size: int) -> int:
    """Enough calls that the counting's fixed cost (a few thousand instructions a dump) is
    small beside them, few enough that a large case stays seconds under Valgrind."""
    return 100 if size < 100_000 else 10 if size < 1_000_000 else 1


# --- worker: runs under Valgrind ----------------------------------------------------------------


def _count_one(torch, spec: dict, out: Path, index: int) -> None:
    prepare, calls = make_case(spec)
    for _ in range(min(calls, 30)):
        prepare()()  # warm-up: first calls load kernels, fill caches and Python's type caches
    gc.collect()
    gc.disable()
    for i in range(calls):
        call = prepare()
        if i < calls - 1:
            torch._C._valgrind_toggle()
            call()
            torch._C._valgrind_toggle()
        else:
            torch._C._valgrind_toggle()
            call()
            torch._C._valgrind_toggle_and_dump_stats()  # off, and one dump for the case
    (out / f"case-{index}.json").write_text(json.dumps({"calls": calls, "pid": os.getpid()}))


def worker(specs_path: Path, out: Path) -> int:
    import torch

    specs = json.loads(specs_path.read_text())
    torch.set_num_threads(1)  # Valgrind runs one thread at a time anyway: count one
    # Warm torch up while instrumentation is off: the first SGD step imports torch._dynamo.
    for spec in specs:
        prepare, _ = make_case(spec)
        prepare()()
    gc.collect()
    gc.freeze()  # what the warm-up left is not the forked children's garbage to collect
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for index, spec in enumerate(specs):
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _count_one(torch, spec, out, index)
                code = 0
            finally:
                os._exit(code)  # no interpreter teardown in the child
        _, status = os.waitpid(pid, 0)
        if status != 0:
            print(f"case {index}: counting failed (status {status})", file=sys.stderr)
            return 1
    return 0


# --- driver --------------------------------------------------------------------------------------


def count(specs: list[dict], workdir: Path, timeout: float = 900) -> dict[int, Counted]:
    """Instructions per call of each spec (by index), from one Valgrind process, with the
    callgrind dump it was read from (under ``workdir``).

    Raises RuntimeError with Valgrind's last lines when it fails.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    specs_path = workdir / "specs.json"
    specs_path.write_text(json.dumps(specs))
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"  # dict and set order, and so counts, alike in every process
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).parent), env.get("PYTHONPATH")])
    )
    command = [
        "valgrind", "--tool=callgrind", "--collect-atstart=no", "--instr-atstart=no",
        "--dump-instr=no", "--dump-line=no", "--cache-sim=no", "--branch-sim=no",
        f"--callgrind-out-file={workdir}/callgrind.%p.out",
        # -P: not the script's folder on sys.path (files beside it moved counts by up to 2.6 %);
        # -s: no user site.
        sys.executable, *(["-P"] if sys.version_info >= (3, 11) else []), "-s",
        str(Path(__file__).resolve()), str(specs_path), str(workdir),
    ]  # fmt: skip
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        raise RuntimeError(f"valgrind exited {done.returncode}: {tail}")
    counts = {}
    for index in range(len(specs)):
        entry = json.loads((workdir / f"case-{index}.json").read_text())
        # The case's own dump (numbered 1); the child's exit adds an empty one without a number.
        dump = workdir / f"callgrind.{entry['pid']}.out.1"
        match = _SUMMARY.search(dump.read_text())
        if match is None:
            raise RuntimeError(f"{dump}: no totals line")
        counts[index] = Counted(int(match.group(1)) / entry["calls"], entry["calls"], dump)
    return counts


def count_to_file(specs_path: Path, out: Path) -> int:
    """The driver as a command, for a caller that measures another checkout's code (`linreg
    bisect`): ``out`` gets each spec's count per call, its calls and its dump's path."""
    counted = count(json.loads(specs_path.read_text()), out.parent / "callgrind")
    body = [{"per_call": c.per_call, "calls": c.calls, "dump": str(c.dump)}
            for _, c in sorted(counted.items())]  # fmt: skip
    out.write_text(json.dumps({"counted": body}))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--count"]:
        sys.exit(count_to_file(Path(sys.argv[2]), Path(sys.argv[3])))
    sys.exit(worker(Path(sys.argv[1]), Path(sys.argv[2])))
