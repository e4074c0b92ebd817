"""Instruction baselines keyed by stack: ``results/baselines/instructions/<stack key>/``.

Each is a pytest-benchmark file of the bench suite whose cases carry ``extra_info.instructions``
(callgrind's count per call) or ``extra_info.op_counts`` (the ops a step makes: what gates a
case without instruction counts, a CUDA case or a host without Valgrind), copied byte for byte
from a `linreg bench --baseline` run into the folder of its own stack key (``linreg.stack``),
under pytest-benchmark's id and numbering (``<key>/Linux-CPython-3.11-64bit/0001_<commit>_
<time>.json``), so that
``pytest-benchmark --storage results/baselines/instructions/<key> list`` reads it too, with the
callgrind profiles its cases name beside it (``linreg.results.profiles``). A machine of that
stack, any machine, compares its counts with the newest one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from linreg.errors import ResultSetError
from linreg.paths import INSTRUCTION_BASELINES
from linreg.results import kinds
from linreg.results.bench_file import BenchFile
from linreg.results.bench_sessions import BenchSession, sessions
from linreg.results.files import check_regular_file, write_file
from linreg.results.load import load_bench, load_result
from linreg.results.op_counts import OP_COUNTS_KEY
from linreg.results.profiles import copy_profiles
from linreg.results.walk import result_files
from linreg.stack import stack_key

_NUMBERED = re.compile(r"^(\d{4,})_")


def baseline_folder(key: str, root: Path = INSTRUCTION_BASELINES) -> Path:
    return Path(root) / key


def counted_cases(file: BenchFile) -> dict[str, float]:
    """The file's cases that carry an instruction count, with the count."""
    found = {}
    for case in file.cases:
        count = case.extra_info.get("instructions")
        if isinstance(count, (int, float)) and not isinstance(count, bool) and count > 0:
            found[case.fullname] = float(count)
    return found


def gated_cases(file: BenchFile) -> set[str]:
    """The file's cases that a stack gate can judge: those with instruction or op counts."""
    return set(counted_cases(file)) | {
        case.fullname for case in file.cases if OP_COUNTS_KEY in case.extra_info
    }


def instruction_baselines(key: str, root: Path = INSTRUCTION_BASELINES) -> list[BenchSession]:
    """The stored sessions of stack ``key`` that hold instruction or op counts, oldest first.

    A file under the key's folder whose own fingerprint has another key is refused by name: a
    baseline of another stack would gate on counts it cannot match.
    """
    folder = baseline_folder(key, root)
    if not folder.is_dir():
        return []
    files = []
    for path in result_files(folder):
        loaded = load_result(path)
        if loaded is None or loaded.kind != kinds.BENCH:
            continue
        file = loaded.value
        own = stack_key(file.environment)
        if own != key:
            raise ResultSetError(f"{path}: a baseline of stack {own}, filed under {key}")
        if gated_cases(file):
            files.append(file)
    return sessions(files)


def newest_instruction_baseline(
    key: str, root: Path = INSTRUCTION_BASELINES
) -> BenchSession | None:
    """The newest session (by when it started) of stack ``key`` holding counts (instructions
    or ops), or None."""
    found = instruction_baselines(key, root)
    return found[-1] if found else None


def store_instruction_baselines(
    paths: Iterable[Path], root: Path = INSTRUCTION_BASELINES
) -> list[Path]:
    """Copy each bench file that holds instruction or op counts into its stack key's folder,
    numbered after the files already there, with the profiles its cases name; files without
    counts are left out. Never overwrites."""
    stored = []
    for path in map(Path, paths):
        file = load_bench(path)
        if not gated_cases(file):
            continue
        folder = baseline_folder(stack_key(file.environment), root) / path.parent.name
        check_regular_file(path)
        data = path.read_bytes()
        target = folder / f"{_next_number(folder):04d}_{_NUMBERED.sub('', path.name)}"
        stored.append(write_file(target, lambda handle, data=data: handle.write(data), False))
        copy_profiles(path, target, file.cases)
    return stored


def _next_number(folder: Path) -> int:
    numbers = [
        int(match.group(1))
        for p in (folder.iterdir() if folder.is_dir() else ())
        if (match := _NUMBERED.match(p.name))
    ]
    return max(numbers, default=0) + 1
