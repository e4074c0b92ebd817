"""Running the bench/ suite for `linreg bench`: in a child pytest, stored per machine."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from linreg.errors import ConfigError, LinregError, OutputError
from linreg.paths import BENCH_DIR, CHECKOUT, PROJECT_ROOT
from linreg.paths import results_root as default_results
from linreg.processes import interruptible, run_bounded
from linreg.results import kinds
from linreg.results.bench_sessions import session_samples, sessions
from linreg.results.files import write_json_new
from linreg.results.load import load_result
from linreg.results.noise_floor import NoiseFloor
from linreg.results.walk import result_files
from linreg.suites.bench_request import BenchRequest, process_env

# More processes than this is a typo, not a plan: each is a full run of the selection.
MAX_PROCESSES = 100
# The folder of an InstructionCounter a runner started before the suite: bench/conftest.py
# hands it the specs of its counted cases instead of starting a Valgrind process of its own.
COUNTER_VARIABLE = "LINREG_BENCH_COUNTER"
# bench/instructions.py's name for the specs it waits for: there once the cases are timed.
COUNTER_SPECS_FILE = "specs.json"
# How long a stopped suite may take to save the cases that finished before it is killed.
STOP_GRACE_S = 15.0


@dataclass
class InstructionCounter:
    """bench/instructions.py's one Valgrind process, started by a runner before the suite
    (`linreg run`): its start-up with torch, most of its time, runs while the runner and the
    suite do other work; the suite's first process hands it the cases to count and waits for
    the counts. In its own process group, so that stopping it stops Valgrind too."""

    folder: Path
    process: subprocess.Popen

    @classmethod
    def start(cls, folder: Path, env: Mapping[str, str] | None = None) -> InstructionCounter | None:
        """Started, waiting for its specs in ``folder``; None where Valgrind is not installed
        (the suite says so in its results, as it does when it counts itself)."""
        if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
            return None
        base = dict(os.environ if env is None else env)
        cwd, _ = _child_placement(base)  # where, and with which linreg, as the suite runs
        folder.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "instructions.py"), "--serve", str(folder)],
            cwd=cwd, env=base, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        return cls(folder, process)

    @property
    def cases_timed(self) -> bool:
        """Whether the suite handed over its specs: it writes them once every case is timed."""
        return (self.folder / COUNTER_SPECS_FILE).exists()

    def stop(self) -> None:
        """Valgrind has nothing to save: the whole group goes at once."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@dataclass(frozen=True)
class BenchOutcome:
    """What a suite run left behind; exit_code is pytest's."""

    exit_code: int
    machine: str
    storage: Path
    saved: tuple[Path, ...]
    json_path: Path | None
    noise_floor: Path | None = None
    timed_out: bool = False  # stopped at timeout_s: saved holds the cases that finished
    problem: str | None = None  # why the suite could not run at all (pytest not installed, ...)


# Called after each process with (index, processes, exit code).
ProcessCallback = Callable[[int, int, int], None]


def run_bench_suite(
    request: BenchRequest,
    storage_root: Path | None = None,
    *,
    extra_args: Sequence[str] = (),
    json_path: Path | None = None,
    log_path: Path | None = None,
    processes: int = 1,
    on_process: ProcessCallback | None = None,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
    counter: InstructionCounter | None = None,
    stop: threading.Event | None = None,
) -> BenchOutcome:
    """Run bench/ as ``request`` asks, in ``processes`` child processes, one after the other,
    and say what they stored under ``storage_root``/<machine>/ (default: the results root's
    bench/). ``extra_args`` go to pytest as given.

    Child processes rather than pytest.main(): the suite sets torch threads, allocates GBs and
    imports its conftest as a top-level module; none of that should outlive it in this process.
    Several processes make one session: a comparison takes one sample per process (rounds in one
    process share its state), and their spread is the machine's noise floor, stored beside them.
    Instructions are counted in the first process only.
    ``timeout_s`` bounds the whole session: at the limit the running process is interrupted,
    pytest-benchmark saves the cases that finished, and no further process starts. ``env`` is
    the children's environment (default this process's), to which a checkout's path is added.
    ``counter``, started by the caller, counts the first process's instructions. ``stop``, set
    from another thread (the caller's, when it is interrupted), stops the suite as the timeout
    does: interrupted, it saves the cases that finished.
    """
    # Here, not at the top: the machine's name comes from its fingerprint, which imports torch,
    # and a runner starts its InstructionCounter before that.
    from linreg.machine import default_machine_name, validate_machine_name

    if not (BENCH_DIR / "conftest.py").is_file():
        raise LinregError(f"{BENCH_DIR}: the benchmark suite is not there (reinstall linreg)")
    if not isinstance(processes, int) or not 1 <= processes <= MAX_PROCESSES:
        raise ConfigError("processes", f"must be in [1, {MAX_PROCESSES}], got {processes!r}")
    machine = validate_machine_name(request.machine) if request.machine else default_machine_name()
    request = dataclasses.replace(request, machine=machine)
    if json_path is not None:
        if processes > 1:
            raise ConfigError("json", "writes one process's file; drop it with --processes > 1")
        json_path = Path(json_path).resolve()
        if json_path.exists():
            raise OutputError(f"{json_path}: exists; results are never overwritten")
        if not json_path.parent.is_dir():
            raise OutputError(f"{json_path.parent}: no such folder for --json")
    # Absolute: in a checkout the child pytest runs from the repository root, not from the
    # caller's folder.
    root = storage_root if storage_root is not None else default_results() / "bench"
    storage = (Path(root) / machine).resolve()
    before = set(result_files(storage)) if storage.is_dir() else set()
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(BENCH_DIR),
        *request.pytest_args(),
        f"--benchmark-storage=file://{storage}",
        "--benchmark-autosave",
        *([f"--benchmark-json={json_path}"] if json_path else []),
        *extra_args,
    ]
    base = dict(os.environ if env is None else env)
    cwd, placement_args = _child_placement(base)
    command += placement_args
    session = kinds.utc_stamp()
    exit_code = 0
    timed_out = False
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    for index in range(processes):
        child = process_env(base, session, index, count=index == 0)
        if counter is not None and index == 0:
            child[COUNTER_VARIABLE] = str(counter.folder)
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        if stop is not None:
            code, timed_out = _run_stoppable(command, child, log_path, index > 0, left, stop,
                                             cwd=cwd)  # fmt: skip
        else:
            code, timed_out = _run_pytest(command, child, log_path, append=index > 0,
                                          timeout_s=left, cwd=cwd)  # fmt: skip
        exit_code = exit_code or code
        if on_process is not None:
            on_process(index, processes, code)
        if code not in (0, 5) or timed_out:
            break  # a failing or refused suite fails the same way in every process
    saved = tuple(sorted(set(result_files(storage)) - before)) if storage.is_dir() else ()
    noise = _write_noise_floor(storage, machine, session, saved) if processes > 1 else None
    # A suite that stored nothing and failed: is it the tools rather than the suite? Asked only
    # then, so a run that works pays no extra process.
    problem = missing_bench_tools(base) if exit_code not in (0, 5) and not saved else None
    return BenchOutcome(exit_code, machine, storage, saved, json_path, noise, timed_out, problem)


# What `python -m pytest bench` needs besides linreg; the bench extra installs both.
BENCH_TOOLS = ("pytest", "pytest_benchmark")
INSTALL_HINT = "pip install 'pytest>=8' 'pytest-benchmark>=4.0' (or: pip install -e '.[bench]')"
_PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        sys.exit(f"{name.replace('_', '-')} is not installed: {exc}")
"""


def missing_bench_tools(env: Mapping[str, str] | None = None) -> str | None:
    """Why the bench suite cannot start in a child with ``env`` — pytest or pytest-benchmark
    not importable there — with how to install them; None where both import."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *BENCH_TOOLS], env=env, cwd=PROJECT_ROOT,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    why = lines[-1] if lines else f"exit {done.returncode}"
    if "is not installed" not in why:
        why = f"pytest or pytest-benchmark cannot be imported ({why})"
    return f"{why} (python {sys.executable}); install them: {INSTALL_HINT}"


def _child_placement(env: dict[str, str]) -> tuple[Path | None, list[str]]:
    """The folder the child pytest runs in (None: the caller's) and the pytest options that
    go with it; ``env`` is completed for it. A checkout's suite runs from the checkout,
    importing that checkout's linreg. An installed suite (a wheel's copy) imports the installed
    linreg, as this process does, and writes nothing into the installed package: no cache
    folder, no bytecode."""
    if CHECKOUT:
        paths = [str(PROJECT_ROOT), env.get("PYTHONPATH")]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
        return PROJECT_ROOT, []
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return None, ["-p", "no:cacheprovider"]


def _run_pytest(
    command: list[str],
    env: Mapping[str, str],
    log_path: Path | None,
    append: bool,
    timeout_s: float | None = None,
    cwd: Path | None = None,
) -> tuple[int, bool]:
    """pytest's exit code, and whether it was stopped at ``timeout_s``."""
    if timeout_s is not None:
        if log_path is not None and not append:
            Path(log_path).write_text("", encoding="utf-8")
        done = run_bounded(command, timeout_s=timeout_s, cwd=cwd, env=env,
                           log_path=log_path)  # fmt: skip
        return done.exit_code, done.timed_out
    if log_path is None:
        return subprocess.run(command, cwd=cwd, env=env, check=False).returncode, False
    # Inside a larger job the suite's own output goes to a log, not over its progress display.
    with Path(log_path).open("a" if append else "w", encoding="utf-8") as log:
        return subprocess.run(
            command, cwd=cwd, env=env, check=False, stdout=log, stderr=subprocess.STDOUT
        ).returncode, False


def _run_stoppable(
    command: list[str],
    env: Mapping[str, str],
    log_path: Path | None,
    append: bool,
    timeout_s: float | None,
    stop: threading.Event,
    cwd: Path | None = None,
) -> tuple[int, bool]:
    """pytest's exit code, and whether it was stopped (at ``timeout_s`` or by ``stop``): the
    child in a process group of its own, interrupted as Ctrl-C would interrupt it."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with contextlib.ExitStack() as stack:
        log = None
        if log_path is not None:
            log = stack.enter_context(Path(log_path).open("a" if append else "w", encoding="utf-8"))
        child = subprocess.Popen(
            command, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT if log is not None else None, start_new_session=True,
            preexec_fn=interruptible(),
        )  # fmt: skip
        try:
            while True:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    return child.wait(timeout=0.1), False
                if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                    break
        finally:
            if child.poll() is None:
                _interrupt_group(child)
        return child.returncode, True


def _interrupt_group(child: subprocess.Popen) -> None:
    """SIGINT to the child's group, time to save, then SIGKILL to what is left of it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _write_noise_floor(
    storage: Path, machine: str, session: str, saved: tuple[Path, ...]
) -> Path | None:
    """The session's A/A spread per case, beside the machine's results (noise-<session>.json)."""
    files = [
        loaded.value
        for loaded in map(load_result, result_files(storage))
        if loaded and loaded.kind == kinds.BENCH
    ]
    grouped = sessions(files)
    [*found] = [s for s in grouped if s.session == session]
    if not found or found[0].processes < 2:
        return None
    # The between-session spread needs sessions of the same code and stack: a session of
    # another commit or torch differs by its change, not by the machine's drift.
    same = [s for s in grouped if s.session != session and _code(s) == _code(found[0])]
    noise = NoiseFloor.measure(
        machine, session_samples(found[0]), [session_samples(s) for s in same]
    )
    return write_json_new(
        storage / kinds.noise_floor_file(session),
        kinds.envelope(kinds.NOISE_FLOOR, noise.to_dict()),
    )


def _code(session) -> tuple:
    env = session.files[0].environment
    keys = ("linreg_commit", "torch", "torch_git", "python", "torch_cpu_capability")
    return tuple(str(env.get(key)) for key in keys)
