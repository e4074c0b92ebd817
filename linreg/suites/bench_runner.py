"""Running the bench/ suite for `linreg bench`: in a child pytest, stored per machine."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from linreg.errors import LinregError, OutputError
from linreg.machine import default_machine_name, validate_machine_name
from linreg.paths import BENCH_DIR, BENCH_RESULTS, PROJECT_ROOT
from linreg.results.walk import result_files
from linreg.suites.bench_selection import BenchSelection

REPO_ROOT = PROJECT_ROOT
RESULTS_ROOT = BENCH_RESULTS


@dataclass(frozen=True)
class BenchOutcome:
    """What a suite run left behind; exit_code is pytest's."""

    exit_code: int
    machine: str
    storage: Path
    saved: tuple[Path, ...]
    json_path: Path | None


def selection_args(selection: BenchSelection) -> list[str]:
    """The pytest options of bench/conftest.py that reproduce a selection."""
    args = [
        f"--devices={','.join(selection.devices)}",
        f"--dtypes={','.join(selection.dtypes)}",
        f"--seeds={','.join(map(str, selection.seeds))}",
        f"--engines={','.join(selection.engines)}",
        f"--kinds={','.join(selection.kinds)}",
    ]
    if selection.sizes:
        args.append(f"--sizes={','.join(map(str, selection.sizes))}")
    if selection.quick:
        args.append("--quick")
    return args


def run_bench_suite(
    selection: BenchSelection,
    machine: str | None = None,
    json_path: Path | None = None,
    pytest_args: list[str] | tuple[str, ...] = (),
    results_root: Path | None = None,
    log_path: Path | None = None,
) -> BenchOutcome:
    """Run bench/ in a child process and load what it stored.

    A child process rather than pytest.main(): the suite sets torch threads, allocates GBs and
    imports its conftest as a top-level module; none of that should outlive it in this process,
    and a second call in one process (as tests do) would otherwise reuse stale modules.
    """
    if not (BENCH_DIR / "conftest.py").is_file():
        raise LinregError(f"{BENCH_DIR}: the benchmark suite is not there (run from a checkout)")
    machine = validate_machine_name(machine) if machine else default_machine_name()
    if json_path is not None:
        json_path = Path(json_path).resolve()
        if json_path.exists():
            raise OutputError(f"{json_path}: exists; results are never overwritten")
        if not json_path.parent.is_dir():
            raise OutputError(f"{json_path.parent}: no such folder for --json")
    # Absolute: the child pytest runs from the repository root, not from the caller's folder.
    storage = (Path(results_root or RESULTS_ROOT) / machine).resolve()
    before = set(result_files(storage)) if storage.is_dir() else set()
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(BENCH_DIR),
        *selection_args(selection),
        f"--machine={machine}",
        f"--benchmark-storage=file://{storage}",
        "--benchmark-autosave",
        *([f"--benchmark-json={json_path}"] if json_path else []),
        *pytest_args,
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if log_path is None:
        exit_code = subprocess.run(command, cwd=REPO_ROOT, env=env, check=False).returncode
    else:
        # Inside a larger job the suite's own output goes to a log, not over its progress display.
        with Path(log_path).open("w", encoding="utf-8") as log:
            exit_code = subprocess.run(
                command, cwd=REPO_ROOT, env=env, check=False, stdout=log, stderr=subprocess.STDOUT
            ).returncode
    saved = tuple(sorted(set(result_files(storage)) - before)) if storage.is_dir() else ()
    return BenchOutcome(exit_code, machine, storage, saved, json_path)
