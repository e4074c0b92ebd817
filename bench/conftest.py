"""The benchmark suite's options, matrix, skips, storage location and machine fingerprint.

`pytest bench [--quick] [--devices cpu,cuda] ...` from the repository root; see README
"Benchmarks". Options are parsed by linreg.suites.bench_selection, shared with `linreg bench`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from linreg.config import TrainConfig
from linreg.engines.support import unsupported
from linreg.env import capture_environment
from linreg.errors import ConfigError, LinregError
from linreg.machine import default_machine_name, validate_machine_name
from linreg.paths import results_root
from linreg.results.kinds import utc_stamp
from linreg.results.op_counts import OP_COUNTS_KEY
from linreg.results.profiles import (
    CALLS_KEY,
    PROFILE_KEY,
    compress_dump,
    free_folder_name,
    write_profiles,
)
from linreg.suites.bench_request import (
    COUNT_VARIABLE,
    INSTRUCTION_MODES,
    PROCESS_VARIABLE,
    SESSION_VARIABLE,
)
from linreg.suites.bench_runner import COUNTER_VARIABLE
from linreg.suites.bench_selection import (
    KINDS,
    OVERHEAD_COMPARISONS,
    BenchSelection,
    optimizer_id,
    parse_selection,
    skip_reason,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
# pytest-benchmark's default --benchmark-storage; only that one is replaced by results/bench.
DEFAULT_STORAGE = "file://./.benchmarks"

_selection_key = pytest.StashKey[BenchSelection]()
_machine_key = pytest.StashKey[str]()
_threads_key = pytest.StashKey["int | None"]()
_counts_key = pytest.StashKey[tuple]()
_profiles_key = pytest.StashKey[dict]()
_op_counts_key = pytest.StashKey[tuple]()
_served_key = pytest.StashKey["_Served | None"]()


@dataclass(frozen=True)
class Profile:
    """Rounds per case: few enough that raw data stay small, enough for a median and IQR."""

    train_rounds: int
    inference_rounds: int
    epoch_rounds: int
    large_rounds: int  # epoch and inference cases at >= 1e6 samples take 10-100 ms a round
    overhead_rounds: int = 9  # candidate and reference rounds each: a median of 9 (CLI: >= 5)

    def at_least(self, rounds: int) -> Profile:
        """Every case with at least ``rounds`` rounds (--benchmark-min-rounds)."""
        return dataclasses.replace(
            self, **{f.name: max(getattr(self, f.name), rounds) for f in dataclasses.fields(self)}
        )


FULL = Profile(train_rounds=5, inference_rounds=20, epoch_rounds=30, large_rounds=7)
QUICK = Profile(
    train_rounds=3, inference_rounds=5, epoch_rounds=5, large_rounds=3, overhead_rounds=5
)
# pytest-benchmark's own default for --benchmark-min-rounds: any other value was asked for.
DEFAULT_MIN_ROUNDS = 5
_SESSION = utc_stamp()  # a bare `pytest bench` is a session of one process


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("linreg", "linreg benchmark selection")
    for name, what in (
        ("devices", "devices: cpu,cuda,mps (absent ones are skipped with the reason)"),
        ("dtypes", "dtypes: float32,float64,bfloat16,float16"),
        ("seeds", "seeds of the train cases (default 42)"),
        ("sizes", "sample counts of the size sweep and inference batches (default: their own)"),
        ("engines", "engines from linreg.config.ENGINES"),
        ("kinds", f"case kinds: {','.join(KINDS)}"),
        ("optimizers", "optimizers of the train cases: sgd,adam (default sgd; adam: eager only)"),
        ("momentums", "SGD momentums of the train cases, in [0, 1) (default 0)"),
    ):
        group.addoption(f"--{name}", default=None, metavar="LIST", help=f"Comma list of {what}.")
    group.addoption(
        "--target",
        default=None,
        metavar="SPEC",
        help="A target's cases (target_step, target_inference) instead of the tutorial's: "
        "FILE.py:NAME, package.module:NAME or a bundled name (mlp, cnn, chargpt).",
    )
    group.addoption(
        "--target-size",
        default=None,
        metavar="NAME",
        help="The size of the --target the cases train (default ci).",
    )
    group.addoption(
        "--quick",
        action="store_true",
        help="CI profile: cpu, float32, seed 42, eager, train + inference, few rounds.",
    )
    group.addoption(
        "--threads",
        default=None,
        metavar="N",
        help="Pin torch's intra-op threads for every case: an integer, or 'all' for torch's "
        "default (default: 1 with --quick, whose cases gate regressions, else all).",
    )
    group.addoption(
        "--instructions",
        default="auto",
        choices=INSTRUCTION_MODES,
        help="Count instructions per call of the CPU cases under Valgrind, one process for all "
        "(about a minute): 'auto' does for the quick profile, the one that gates.",
    )
    group.addoption(
        "--instructions-only",
        default=None,
        metavar="NAMES",
        help="Count only these cases (comma list of full case names, e.g. "
        "bench_train.py::bench_train[cpu-float32-seed42-eager]): `linreg run` counts just the "
        "cases its stack's baseline holds, Valgrind's time growing with each case.",
    )
    group.addoption(
        "--op-counts",
        default="auto",
        choices=("auto", "yes", "no"),
        help="Count the aten ops of each train, epoch and inference case (any device), after "
        "every case was timed, into extra_info.op_counts: 'auto' does for the quick profile.",
    )
    group.addoption(
        "--machine",
        default=None,
        metavar="NAME",
        help="Machine name: results go to results/bench/NAME/ (default: from CPU and GPU models).",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # tryfirst: pytest-benchmark reads its options in its own pytest_configure, after this one.
    try:
        selection = parse_selection(
            devices=config.getoption("devices"),
            dtypes=config.getoption("dtypes"),
            seeds=config.getoption("seeds"),
            sizes=config.getoption("sizes"),
            engines=config.getoption("engines"),
            kinds=config.getoption("kinds"),
            quick=config.getoption("quick"),
            optimizers=config.getoption("optimizers"),
            momentums=config.getoption("momentums"),
            target=config.getoption("target"),
            target_size=config.getoption("target_size"),
        )
        if selection.target is not None:
            from target_cases import load_case

            load_case(selection.target, selection.target_size)  # a bad target: one line, now
        given = config.getoption("machine")
        machine = validate_machine_name(given) if given else default_machine_name()
    except ConfigError as exc:
        raise pytest.UsageError(f"--{exc}") from None
    config.stash[_selection_key] = selection
    config.stash[_machine_key] = machine
    config.stash[_threads_key] = _pinned_threads(config.getoption("threads"), selection.quick)
    # Raw rounds are what `linreg compare` tests; without them a stored file only has summaries.
    config.option.benchmark_save_data = True
    if config.option.benchmark_storage == DEFAULT_STORAGE:
        # The results root, as every linreg command writes there: the working folder's results/
        # unless LINREG_RESULTS says otherwise, never the checkout that holds the suite.
        config.option.benchmark_storage = f"file://{(results_root() / 'bench' / machine).resolve()}"


def pytest_report_header(config: pytest.Config) -> list[str]:
    selection = config.stash[_selection_key]
    return [f"linreg bench: machine {config.stash[_machine_key]}; {selection}"]


def _pinned_threads(text: str | None, quick: bool) -> int | None:
    """The thread count every case runs with; None leaves torch's default.

    The quick profile pins one thread: its cases gate regressions, and a two-thread parallel
    region on a shared machine waits for a descheduled thread now and then (inference at 1e5
    samples flipped between ~50 µs and ~8 ms under load; with one thread it stays at ~50 µs).
    """
    if text is None:
        return 1 if quick else None
    if text == "all":
        return None
    if not text.isdigit() or int(text) < 1:
        raise pytest.UsageError(f"--threads: expected an integer >= 1 or 'all', got {text!r}")
    return int(text)


@dataclass(frozen=True)
class _Counted:
    per_call: float
    calls: int
    profile: bytes  # the case's callgrind dump, gzipped


@dataclass
class _Served:
    """A Valgrind process its runner started before this session (`linreg run`: the folder
    COUNTER_VARIABLE names): its start-up with torch ran beside the runner's other work and
    these cases' timing, and it counts once the session hands it the specs. A session of its
    own counts after its cases are timed, as before: its wall times stay those of an otherwise
    idle machine (baselines, noise floors and A/B runs are made of them)."""

    folder: Path
    specs_given: bool = False

    def give(self, specs: list[dict]) -> None:
        from instructions import write_specs

        write_specs(specs, self.folder)
        self.specs_given = True

    def wait(self) -> dict:
        from instructions import SPECS_WAIT_S, read_served

        deadline = time.monotonic() + SPECS_WAIT_S + 900
        while (served := read_served(self.folder)) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.folder}: no counts from the runner's Valgrind")
            time.sleep(0.02)  # a file's existence, cheap to ask; the job's report waits on it
        return served

    def close(self) -> None:
        """Whatever happened: the runner's Valgrind, waiting for specs, ends at once."""
        if not self.specs_given:
            with contextlib.suppress(OSError):
                self.give([])


def _served(config: pytest.Config) -> _Served | None:
    if _served_key not in config.stash:
        folder = os.environ.get(COUNTER_VARIABLE)
        counts = os.environ.get(COUNT_VARIABLE) != "0"
        config.stash[_served_key] = _Served(Path(folder)) if folder and counts else None
    return config.stash[_served_key]


def _counting_refused(config: pytest.Config) -> str | None:
    """Why this session counts no instructions, or None."""
    wanted = config.getoption("instructions")
    if wanted == "no" or os.environ.get(COUNT_VARIABLE) == "0":
        return "not asked"
    if wanted == "auto" and not config.stash[_selection_key].quick:
        return "not asked (the quick profile counts; --instructions=yes for any)"
    return None


# Set when the session is stopped (Ctrl-C, or its runner's interrupt): pytest-benchmark still
# saves the cases that finished, without waiting for counts.
_interrupted = False


def pytest_keyboard_interrupt() -> None:
    global _interrupted
    _interrupted = True


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    served = _served(config)
    if served is not None:
        served.close()
    if os.environ.get(SESSION_VARIABLE):
        # A runner's child process, which ends next: its exit skips the walk over torch's
        # objects, as linreg's own processes do (linreg.process_exit).
        gc.freeze()


def _count_instructions(
    config: pytest.Config, benchmarks: list[dict]
) -> Callable[[], tuple[dict, str]]:
    """Hand this session's counted CPU cases to Valgrind; the returned call waits for their
    counts: each by full name (instructions per call, calls, its profile), and what was done.
    Between the two the session counts ops (where the runner's Valgrind counts meanwhile)."""
    from instructions import COUNTED_KINDS, count, missing_tool

    served = _served(config)
    refused = _counting_refused(config)
    if refused:
        return lambda: ({}, refused)
    if _interrupted:
        return lambda: ({}, "not counted: the session was interrupted")
    only = config.getoption("instructions_only")
    wanted_names = None if only is None else {n.strip() for n in only.split(",") if n.strip()}
    cases = [
        b for b in benchmarks
        if (b.get("extra_info") or {}).get("device") == "cpu"
        and b["extra_info"].get("kind") in COUNTED_KINDS
        and (wanted_names is None or b["fullname"] in wanted_names)
    ]  # fmt: skip
    say = config.pluginmanager.get_plugin("terminalreporter").write_line
    problem = missing_tool()
    if problem:
        say(f"linreg bench: {problem}: no instruction counts, wall time alone")
        return lambda: ({}, f"not counted: {problem}")
    if not cases:
        return lambda: ({}, "no CPU case to count")
    fields = ("kind", "device", "dtype", "seed", "engine", "size", "threads")
    fields += ("optimizer", "momentum")  # recorded by train cases other than plain SGD
    fields += ("target_spec", "code_hash", "target_size")  # target cases: the target, by spec
    specs = [{k: b["extra_info"].get(k) for k in fields} for b in cases]
    say(f"linreg bench: counting instructions of {len(specs)} cases in one Valgrind process…")
    if served is not None:
        try:
            served.give(specs)  # it has imported torch under Valgrind by now, or nearly
        except OSError as exc:
            failed = f"failed: {exc}"
            return lambda: ({}, failed)

    def counted() -> tuple[dict, str]:
        started = time.perf_counter()
        work = None
        try:
            if served is not None:
                counts = served.wait()
            else:
                work = tempfile.TemporaryDirectory(prefix="linreg-callgrind-")
                counts = count(specs, Path(work.name))
            found = {
                cases[i]["fullname"]: _Counted(c.per_call, c.calls, compress_dump(c.dump))
                for i, c in counts.items()
            }
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
            say(f"linreg bench: instruction counting failed ({exc}); wall time alone")
            return {}, f"failed: {exc}"
        finally:
            if work is not None:
                work.cleanup()
        took = time.perf_counter() - started
        where = " (Valgrind started with the runner)" if served is not None else ""
        say(f"linreg bench: instructions counted in {took:.0f} s{where}")
        return found, "counted by callgrind"

    return counted


def _count_ops(config: pytest.Config, benchmarks: list[dict]) -> tuple[dict, str]:
    """Op counts of the session's cases, in this process once every case is timed."""
    from counted_ops import count_cases

    wanted = config.getoption("op_counts")
    if wanted == "no" or os.environ.get(COUNT_VARIABLE) == "0":
        return {}, "not asked"
    if wanted == "auto" and not config.stash[_selection_key].quick:
        return {}, "not asked (the quick profile counts; --op-counts=yes for any)"
    return count_cases(benchmarks, config.pluginmanager.get_plugin("terminalreporter").write_line)


def _output_folders(config: pytest.Config) -> list[Path]:
    """The folders this session's JSON files go to: --benchmark-json's, and the storage's
    (pytest-benchmark's file storage saves under <storage>/<machine id>/)."""
    folders = []
    json_path = config.getoption("benchmark_json")
    if json_path:
        folders.append(Path(json_path).resolve().parent)
    session = getattr(config, "_benchmarksession", None)  # pytest-benchmark's, set at configure
    if session is not None and (session.save or session.autosave):
        storage = getattr(session.storage, "path", None)  # file storage only (not elasticsearch)
        if storage is not None:
            folders.append(Path(storage) / session.machine_id)
    return list(dict.fromkeys(folders))


def _kept_profiles(config: pytest.Config, counts: dict) -> dict[str, str]:
    """Each counted case's profile, written once beside every JSON file of the session (the
    hook below runs once per file, before pytest-benchmark numbers and writes it), by path
    relative to those files."""
    if _profiles_key in config.stash:
        return config.stash[_profiles_key]
    kept: dict[str, str] = {}
    folders = _output_folders(config)
    if counts and folders:
        session = os.environ.get(SESSION_VARIABLE) or _SESSION
        process = int(os.environ.get(PROCESS_VARIABLE) or 0)
        name = free_folder_name(folders, session, process)
        profiles = {fullname: c.profile for fullname, c in counts.items()}
        try:
            for folder in folders:
                kept = write_profiles(folder, name, profiles)
        except LinregError as exc:
            say = config.pluginmanager.get_plugin("terminalreporter").write_line
            say(f"linreg bench: callgrind profiles not kept ({exc})")
            kept = {}
    config.stash[_profiles_key] = kept
    return kept


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    # Called once per output (autosave, --benchmark-json): count once per session. Valgrind
    # gets its specs first and counts while this process counts ops.
    if _counts_key not in config.stash:
        counted = _count_instructions(config, output_json["benchmarks"])
        config.stash[_op_counts_key] = _count_ops(config, output_json["benchmarks"])
        config.stash[_counts_key] = counted()
    counts, status = config.stash[_counts_key]
    op_counts, op_status = config.stash[_op_counts_key]
    for bench in output_json["benchmarks"]:
        if bench["fullname"] in op_counts:
            bench["extra_info"][OP_COUNTS_KEY] = op_counts[bench["fullname"]]
    output_json["machine_info"]["linreg_op_counts"] = op_status
    profiles = _kept_profiles(config, counts)
    for bench in output_json["benchmarks"]:
        counted = counts.get(bench["fullname"])
        if counted is None:
            continue
        bench["extra_info"]["instructions"] = counted.per_call
        if bench["fullname"] in profiles:
            bench["extra_info"][PROFILE_KEY] = profiles[bench["fullname"]]
            bench["extra_info"][CALLS_KEY] = counted.calls
    output_json["machine_info"]["linreg_instructions"] = status


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["linreg_machine"] = config.stash[_machine_key]
    machine_info["linreg_environment"] = capture_environment()
    machine_info["linreg_session"] = os.environ.get(SESSION_VARIABLE) or _SESSION
    machine_info["linreg_process"] = int(os.environ.get(PROCESS_VARIABLE) or 0)
    machine_info["linreg_threads"] = config.stash[_threads_key] or "all"


def _size_id(size: int) -> str:
    return f"n{size}"


AXES = {
    "target_case": lambda s, kind: _target_cases(s),  # first: the target leads a case's id
    "device": lambda s, kind: s.devices if kind != "threads" else ("cpu",),
    "dtype": lambda s, kind: s.dtypes,
    "seed": lambda s, kind: s.seeds,
    "engine": lambda s, kind: s.engines,
    "size": lambda s, kind: s.inference_batches() if kind == "inference" else s.sweep_sizes(),
    "threads_mode": lambda s, kind: ("1", "all"),
    "comparison": lambda s, kind: OVERHEAD_COMPARISONS,
    "optimizer": lambda s, kind: s.optimizer_settings(),
}
IDS = {
    "target_case": lambda case: case.id,  # name, code hash and size: a changed target is new
    "device": str,
    "dtype": str,
    "seed": lambda seed: f"seed{seed}",
    "engine": str,
    "size": _size_id,
    "threads_mode": lambda mode: f"threads-{mode}",
    "comparison": str,
    # The tutorial's plain SGD adds nothing to a case id: the ids baselines are keyed on stay.
    "optimizer": lambda setting: optimizer_id(*setting),
}


def _target_cases(selection: BenchSelection) -> tuple:
    if selection.target is None:
        return ()
    from target_cases import load_case

    return (load_case(selection.target, selection.target_size),)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    selection = metafunc.config.stash[_selection_key]
    kind = metafunc.function.__name__.removeprefix("bench_")
    names = [name for name in AXES if name in metafunc.fixturenames]
    if not names:
        return
    values = [AXES[name](selection, kind) for name in names]
    combos = list(itertools.product(*values))
    ids = [
        "-".join(filter(None, (IDS[n](v) for n, v in zip(names, combo, strict=True))))
        for combo in combos
    ]
    metafunc.parametrize(",".join(names), combos if len(names) > 1 else values[0], ids=ids)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selection = config.stash[_selection_key]
    keep, drop = [], []
    for item in items:
        kind = getattr(item, "originalname", item.name).removeprefix("bench_")
        wanted = kind in selection.kinds and (kind != "threads" or "cpu" in selection.devices)
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _skip_what_cannot_run(request: pytest.FixtureRequest) -> None:
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    if "device" in params:
        reason = skip_reason(params["device"], params.get("dtype", "float32"))
        if reason:
            pytest.skip(reason)
    if "optimizer" in params:
        optimizer, momentum = params["optimizer"]
        engine = params.get("engine", "eager")
        problem = unsupported(TrainConfig(engine=engine, optimizer=optimizer, momentum=momentum))
        if problem is not None:
            pytest.skip(str(problem))


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Profile:
    base = QUICK if pytestconfig.stash[_selection_key].quick else FULL
    asked = pytestconfig.getoption("benchmark_min_rounds")
    return base if asked == DEFAULT_MIN_ROUNDS else base.at_least(asked)


@pytest.fixture(autouse=True)
def _pinned_thread_count(pytestconfig: pytest.Config):
    """Borrow torch's thread count for the case and give it back after."""
    threads = pytestconfig.stash[_threads_key]
    if threads is None:
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@pytest.fixture
def case_info(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> dict:
    """The parameters every case records in extra_info; cases add their derived figures."""
    params = dict(getattr(request.node.callspec, "params", {}))
    return {
        "kind": request.node.originalname.removeprefix("bench_"),
        "device": params.get("device"),
        "dtype": params.get("dtype"),
        "seed": params.get("seed"),
        "engine": params.get("engine"),
        "size": params.get("size"),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": pytestconfig.stash[_machine_key],
        "torch": torch.__version__,
    }
