"""Instructions per call of benchmark cases, counted by callgrind in ONE Valgrind process.

Instruction counts are the CPU gate: they vary by a fraction of a percent between runs where
wall time varies by tens, and a busy machine does not move them. The mechanism is PyTorch's own
(`torch.utils.benchmark`'s callgrind support): Valgrind runs with collection off, and
``torch._C._valgrind_toggle()`` switches it on around the counted calls only.

Valgrind's start-up with torch is the cost (``import torch`` takes ~3 minutes fully
instrumented), so one process serves every case, and it starts with instrumentation off
(``--instr-atstart=no``: the import at about a tenth of that), switching it on once torch is
warm, by Valgrind's client request from the process itself (``callgrind_control -i on`` where
that cannot be issued). Each case runs in a forked child, so that every
case starts from the same heap and caches whatever ran before it. (Forking the children at
once, a second core counting a second case, made the counts differ between runs by 0.7 %; two
at once, the train case's loop beside the others, about 2 s shorter, counted one of two sets of
numbers from run to run. One at a time, they are the same numbers run after run.)

The process can start before its cases are known: the worker imports torch first and then
waits for its specs file, so a runner starts Valgrind at once and writes the specs when it has
them (``start`` then ``finish``; ``--serve`` for a runner that cannot import this module).

Driver (in the bench session): ``count(specs, workdir)``, each case's count per call with its
callgrind dump (kept with the results: ``linreg.results.profiles``). Worker (under Valgrind):
``python bench/instructions.py SPECS.json OUT_DIR``.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import json
import mmap
import os
import platform
import re
import shutil
import subprocess
import sys
import time
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

        # The target loaded by spec, here; its first steps only (see TARGET_COUNTED_STEPS).
        prepare, calls, _ = make_target_case(spec, steps=TARGET_COUNTED_STEPS)
        return prepare, calls
    if kind in ("train", "threads"):
        from linreg.engines import prepare

        config = _config(spec)
        # One call is a whole training loop (500 epochs), as the train case times it.
        return (lambda: prepare(config).loop), 1
    if kind == "inference":
        from bench_inference import inference_call

        config = _config(spec)
        call = inference_call(config, spec["size"], state=warm_up_state(config))
        return (lambda: call), _calls(spec["size"])
    if kind == "epoch":
        from bench_epoch import epoch_call

        call = epoch_call(_config(spec), spec["size"])
        return (lambda: call), _calls(spec["size"])
    raise ValueError(f"instructions are not counted for the {kind!r} kind")


def warm_up_config(config):
    """The warm-up's training loop for ``config``: one evaluation period and the epoch after it,
    so every op of the loop, an evaluation included, and enough epochs for Python to specialise
    the loop's code. The whole 500 epochs took 0.7-0.8 s more of `linreg run`'s critical path
    under Valgrind; without them the train case's count moved by +0.13 % and +0.69 % in two
    copies of the checkout, the size of its shifts between environments (README: the warm-up's
    loop of 51 epochs)."""
    return config.replace(epochs=config.eval_every + 1)


@functools.lru_cache(maxsize=8)
def warm_up_state(config) -> dict:
    """The weights an inference case's forward pass is counted with: the warm-up loop's. A
    forward pass runs the same instructions whatever its weights' values, only its shapes
    matter (the 1e5-sample forward, counted alternately with the weights of 500 and 51 epochs
    copied into one model, gave 17,352,708, 17,353,269, 17,351,620 and 17,351,642 for 10 calls),
    and training that model is the warm-up a train case of the same config needs."""
    from bench_inference import trained_state

    return trained_state(warm_up_config(config))


def _calls(size: int) -> int:
    """Enough calls that the counting's fixed cost (a few thousand instructions a dump) is
    small beside them, few enough that a large case stays seconds under Valgrind."""
    return 100 if size < 100_000 else 10 if size < 1_000_000 else 1


# MKL's AVX2 kernels run about 90x slower under Valgrind than its SSE4.2 ones (a 256x144 by
# 144x432 matmul: 0.9 s a call against 10 ms here), so a target's transformer took minutes a
# call. A target's cases are counted with MKL on SSE4.2 (what Valgrind counts is never the native
# kernel anyway: it runs no AVX-512); the tutorial's keep MKL's own choice, which its committed
# baselines were counted with. One Valgrind process counts one kind or the other, never both.
MKL_VARIABLE = "MKL_ENABLE_INSTRUCTIONS"
# A target's training step is counted over its first steps, not its size's whole loop: every
# step does the same ops (the first adds the optimizer's state), so a few show what a step
# costs, and a transformer's step is hundreds of millions of instructions (16 G for the
# chargpt's 20 CI steps: minutes under Valgrind, counted twice with the warm-up). The count is
# per call of these steps, the same on both sides of any comparison.
TARGET_COUNTED_STEPS = 3
TARGET_MKL = "SSE4_2"


def counts_targets(specs: list[dict]) -> bool:
    return any(spec["kind"].startswith("target_") for spec in specs)


def _kernel_problem(specs: list[dict]) -> str | None:
    """Why this process must not count ``specs``: it holds both kinds, or its MKL setting is
    not theirs (a runner that started Valgrind before it knew them)."""
    targets = counts_targets(specs)
    if targets and not all(spec["kind"].startswith("target_") for spec in specs):
        return "a target's cases and the tutorial's are counted in separate processes"
    if targets != (os.environ.get(MKL_VARIABLE) == TARGET_MKL):
        whose, kernels = ("a target", TARGET_MKL) if targets else ("the tutorial", "MKL's choice")
        return (
            f"{MKL_VARIABLE} is {os.environ.get(MKL_VARIABLE)!r} in this process; "
            f"{whose}'s cases are counted with {kernels}"
        )
    return None


# --- worker: runs under Valgrind ----------------------------------------------------------------

# Files of a counting folder: the specs (written by whoever knows the cases, possibly after
# Valgrind started), Valgrind's own output, and what --serve leaves for a runner to read.
SPECS_FILE = "specs.json"
LOG_FILE = "valgrind.log"
COUNTED_FILE = "counted.json"
# Valgrind's FIFOs for vgdb (callgrind_control's messenger), in the counting folder rather than
# the temporary one: a Valgrind that is killed cannot remove them, and the folder goes with it.
VGDB_PREFIX = "vgdb"
# How long a started worker waits for its specs: a runner that never writes them has failed,
# and a Valgrind process must not outlive it by more than this.
SPECS_WAIT_S = 600.0


# Valgrind's client requests (valgrind.h): a marked no-op sequence that Valgrind intercepts,
# here as a function of one argument, the address of the request's six words (x86-64 System V:
# it arrives in rdi; the four rotations of rdi add up to 128 bits and leave it as it was; the
# request's answer comes back in rdx, 0 where Valgrind is absent). callgrind_control added
# 0.3-0.7 s to the same switch (a Perl script, vgdb, its FIFOs, the process woken from its
# wait); torch's own bindings issue the same requests, compiled in, for the toggles only.
_CLIENT_REQUEST_X86_64 = bytes.fromhex(
    "4889f8"  # mov rax, rdi        (the request's words)
    "31d2"  # xor edx, edx          (the answer where no Valgrind intercepts it)
    "48c1c703" "48c1c70d" "48c1c73d" "48c1c733"  # rol rdi, 3; 13; 61; 51
    "4887db"  # xchg rbx, rbx       (the request)
    "4889d0"  # mov rax, rdx
    "c3"  # ret
)  # fmt: skip
RUNNING_ON_VALGRIND = 0x1001  # valgrind.h: VG_USERREQ__RUNNING_ON_VALGRIND
CALLGRIND_START_INSTRUMENTATION = 0x43540004  # callgrind.h: VG_USERREQ_TOOL_BASE('C','T') + 4


@functools.cache
def _client_request() -> Callable[[int], int] | None:
    """Issue one of Valgrind's client requests (no arguments) and return its answer; None where
    this machine cannot: not x86-64 Linux, or no memory that may be both written and run."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, AttributeError):
        return None
    page.write(_CLIENT_REQUEST_X86_64)
    code = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t))(
        ctypes.addressof(ctypes.c_char.from_buffer(page))
    )

    def request(number: int) -> int:
        words = (ctypes.c_size_t * 6)(number, 0, 0, 0, 0, 0)
        return code(words)

    request.page = page  # the code lives as long as the function
    return request


def start_instrumentation(out: Path) -> str:
    """Switch callgrind's instrumentation on in this process (started with it off); says how:
    "client request", or "callgrind_control" where the request cannot be issued here."""
    request = _client_request()
    if request is not None and request(RUNNING_ON_VALGRIND) > 0:
        request(CALLGRIND_START_INSTRUMENTATION)
        return "client request"
    subprocess.run(["callgrind_control", f"--vgdb-prefix={out / VGDB_PREFIX}", "-i", "on",
                    str(os.getpid())], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    return "callgrind_control"


def _count_one(torch, spec: dict, out: Path, index: int) -> None:
    prepare, calls = make_case(spec)
    # The parent ran every case once before forking (``warm_up``: kernels loaded, caches and
    # Python's specialisations warm). A case of many short calls repeats some here, instrumented,
    # so that the counted ones start from a steady state. A case of one call (a whole training
    # loop, a target's steps) counts the call after the parent's: one more loop first, instrumented,
    # took as long as the count itself (3.7 s of `linreg run`'s critical path), and without it
    # the train case's count stays within the spread of runs (333.3-334.2 M a call with it,
    # 332.8-333.2 M without).
    for _ in range(min(calls, 30) if calls > 1 else 0):
        prepare()()
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


def _wait_for_specs(specs_path: Path) -> list[dict] | None:
    """The specs, once their file is there (written whole, by rename); None after
    SPECS_WAIT_S without them."""
    waited = 0.0
    while not specs_path.exists():
        if waited >= SPECS_WAIT_S:
            return None
        time.sleep(0.05)
        waited += 0.05
    return json.loads(specs_path.read_text())


LOOP_KINDS = ("train", "threads")  # one call is a whole training loop


def warm_up(specs: list[dict]) -> list[int]:
    """Run each case once while instrumentation is off (the first SGD step imports
    torch._dynamo; kernels load, caches fill); the indexes of the specs run. A train case runs
    the warm-up loop (``warm_up_config``), not its whole loop.

    An inference case trains its model first (``warm_up_state``), which runs the loop a train
    case of the same config warms up with: that case is not run again. The second loop took
    about 0.5 s of `linreg run`'s critical path under Valgrind; leaving it out moved the train
    case's count by 0.3 % (332,666,323 -> 333,593,391 a call, counted alone, where counts
    repeat exactly), inside the spread of the job's runs and far inside the gate's 3 %."""
    from linreg.engines import prepare

    trained, warmed = set(), []
    for index, spec in enumerate(specs):
        if spec["kind"] in LOOP_KINDS:
            config = _config(spec)
            if config in trained:
                continue
            prepare(warm_up_config(config)).loop()
            trained.add(config)
        else:
            make_case(spec)[0]()()
            if spec["kind"] == "inference":
                trained.add(_config(spec))
        warmed.append(index)
    return warmed


def worker(specs_path: Path, out: Path) -> int:
    import torch

    specs = _wait_for_specs(specs_path)
    if specs is None:
        print(f"no specs in {specs_path} after {SPECS_WAIT_S:.0f} s", file=sys.stderr)
        return 1
    if not specs:
        return 0  # the runner had no case to count after all
    problem = _kernel_problem(specs)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    torch.set_num_threads(1)  # Valgrind runs one thread at a time anyway: count one
    warm_up(specs)
    # What the warm-up made, garbage included, is not the forked children's to collect. No
    # collection first: under Valgrind it walked torch's objects for 0.3-0.4 s of the job's
    # critical path, and the counts stay within the spread of runs without it.
    gc.freeze()
    start_instrumentation(out)
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


def write_specs(specs: list[dict], workdir: Path) -> None:
    """Hand a started worker its specs: written whole, then renamed into place."""
    staged = workdir / f".{SPECS_FILE}.{os.getpid()}"
    staged.write_text(json.dumps(specs))
    os.replace(staged, workdir / SPECS_FILE)


def start(workdir: Path, targets: bool = False) -> subprocess.Popen:
    """Valgrind, started now on the worker, which imports torch and then waits for
    ``workdir``'s specs (``write_specs``); ``finish`` reads what it counted. ``targets``: the
    specs will be a target's cases (MKL on SSE4.2)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if targets:
        env[MKL_VARIABLE] = TARGET_MKL
    elif env.get(MKL_VARIABLE) == TARGET_MKL:
        env.pop(MKL_VARIABLE)
    env["PYTHONHASHSEED"] = "0"  # dict and set order, and so counts, alike in every process
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).parent), env.get("PYTHONPATH")])
    )
    command = [
        "valgrind", "--tool=callgrind", "--collect-atstart=no", "--instr-atstart=no",
        "--dump-instr=no", "--dump-line=no", "--cache-sim=no", "--branch-sim=no",
        f"--callgrind-out-file={workdir}/callgrind.%p.out",
        f"--vgdb-prefix={workdir / VGDB_PREFIX}",
        # -P: not the script's folder on sys.path (files beside it moved counts by up to 2.6 %);
        # -s: no user site.
        sys.executable, *(["-P"] if sys.version_info >= (3, 11) else []), "-s",
        str(Path(__file__).resolve()), str(workdir / SPECS_FILE), str(workdir),
    ]  # fmt: skip
    with (workdir / LOG_FILE).open("w") as log:
        return subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )


def finish(process: subprocess.Popen, workdir: Path, timeout: float = 900) -> dict[int, Counted]:
    """Instructions per call of each spec the started ``process`` was given (by index), with
    the callgrind dump it was read from (under ``workdir``).

    Raises RuntimeError with Valgrind's last lines when it fails; stops it past ``timeout``.
    """
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RuntimeError(f"valgrind ran past {timeout:.0f} s and was stopped") from None
    if code != 0:
        lines = (workdir / LOG_FILE).read_text(errors="replace").strip().splitlines()
        raise RuntimeError(f"valgrind exited {code}: {' | '.join(lines[-3:])}")
    specs = json.loads((workdir / SPECS_FILE).read_text())
    counts = {}
    for index in range(len(specs)):
        entry = json.loads((workdir / f"case-{index}.json").read_text())
        # The case's own dump (numbered 1); the child's exit adds an empty one without a number.
        dump = workdir / f"callgrind.{entry['pid']}.out.1"
        match = _SUMMARY.search(dump.read_text())
        if match is None:
            raise RuntimeError(f"{dump}: no totals line")
        if int(match.group(1)) == 0:
            raise RuntimeError(f"{dump}: nothing counted (instrumentation stayed off)")
        counts[index] = Counted(int(match.group(1)) / entry["calls"], entry["calls"], dump)
    return counts


def count(specs: list[dict], workdir: Path, timeout: float = 900) -> dict[int, Counted]:
    """``start``, the specs, ``finish``: for a caller that knows its cases before Valgrind. A
    target's cases and the tutorial's, asked together, are counted in two processes, one after
    the other (the second in ``workdir``/targets)."""
    targets = [i for i, spec in enumerate(specs) if spec["kind"].startswith("target_")]
    if targets and len(targets) < len(specs):
        tutorial = [i for i in range(len(specs)) if i not in targets]
        first = count([specs[i] for i in tutorial], workdir, timeout)
        second = count([specs[i] for i in targets], workdir / "targets", timeout)
        return {**{tutorial[k]: c for k, c in first.items()},
                **{targets[k]: c for k, c in second.items()}}  # fmt: skip
    workdir.mkdir(parents=True, exist_ok=True)
    write_specs(specs, workdir)
    process = start(workdir, targets=bool(targets))
    try:
        return finish(process, workdir, timeout)
    finally:
        if process.poll() is None:  # interrupted: Valgrind goes with its caller
            process.kill()
            process.wait()


def serve(workdir: Path) -> int:
    """The driver for a runner that starts counting before it knows the cases and cannot
    import this module (`linreg run`): ``start`` now; the bench session writes the specs;
    COUNTED_FILE then holds each spec's count, its calls and its dump's path, or the error.
    Stopped, it leaves no COUNTED_FILE (the session waiting for it is stopped too)."""
    process = start(workdir)
    try:
        counted = finish(process, workdir)
        body: dict = {"counted": [{"per_call": c.per_call, "calls": c.calls, "dump": str(c.dump)}
                                  for _, c in sorted(counted.items())]}  # fmt: skip
    except Exception as exc:  # whatever it is, the session waiting for counts must hear of it
        body = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    staged = workdir / f".{COUNTED_FILE}.{os.getpid()}"
    staged.write_text(json.dumps(body))
    os.replace(staged, workdir / COUNTED_FILE)
    return 0


def read_served(workdir: Path) -> dict[int, Counted] | None:
    """What ``serve`` counted (by spec index), None while it counts; raises RuntimeError
    with the reason where it failed."""
    path = workdir / COUNTED_FILE
    if not path.exists():
        return None
    body = json.loads(path.read_text())
    if "error" in body:
        raise RuntimeError(body["error"])
    return {i: Counted(c["per_call"], c["calls"], Path(c["dump"]))
            for i, c in enumerate(body["counted"])}  # fmt: skip


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
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve(Path(sys.argv[2])))
    code = worker(Path(sys.argv[1]), Path(sys.argv[2]))
    sys.stdout.flush()
    sys.stderr.flush()
    # Every count is in its child's dump by now: tearing torch down under Valgrind (seconds)
    # would change nothing.
    os._exit(code)
