"""Callgrind profiles kept with a result set: where they lie, how they are written and read.

Each counted case of a pytest-benchmark file names its profile in ``extra_info``: a gzipped
callgrind dump (``callgrind.<pid>.out.1``, Valgrind's own format, so ``callgrind_annotate`` and
KCachegrind open it once unzipped) by a path relative to the JSON file, and the calls the dump
covers. The profiles of one bench process lie in one folder beside its JSON file,
``callgrind-<session>-p<process>/``: named after the session rather than the JSON file, whose
name pytest-benchmark numbers only as it saves it, so the name is known before the file is
written and stays right when the file is copied under another number (the instruction
baselines). The walker lists ``*.json`` only, and pytest-benchmark's storage globs ``*.json``:
neither sees a profile.

Reading runs Valgrind's ``callgrind_annotate`` (``--inclusive=yes`` and ``no``), as
``torch.utils.benchmark`` does, and parses its function table.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from linreg.errors import ResultSetError
from linreg.results.bench_file import BenchCase
from linreg.results.files import check_regular_file, write_file

# extra_info keys: the profile's path (relative to the JSON file) and the calls it covers.
PROFILE_KEY = "instructions_profile"
CALLS_KEY = "instructions_calls"
PROFILE_SUFFIX = ".callgrind.gz"
ANNOTATE = "callgrind_annotate"
# A profile is a few hundred KB zipped (the train case, 500 epochs, ~120 KB); more is not one.
MAX_PROFILE_BYTES = 64 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ProfileError(ResultSetError):
    """A case's profile is not there, not readable, or cannot be annotated here."""


@dataclass(frozen=True)
class FunctionTable:
    """One profile's instructions by function, as ``callgrind_annotate`` lists them: the
    program total and (count, "file:function [object]") pairs, inclusive and exclusive, over
    ``calls`` calls of the case."""

    path: Path
    calls: int
    total: int
    inclusive: tuple[tuple[int, str], ...]
    exclusive: tuple[tuple[int, str], ...]


def profile_folder_name(session: str, process: int) -> str:
    """The folder of one bench process's profiles, beside its JSON file."""
    return f"callgrind-{_UNSAFE.sub('_', session)}-p{process}"


def profile_file_name(fullname: str) -> str:
    """'bench_train.py::bench_train[cpu-float32-seed42-eager]' gives
    'bench_train-cpu-float32-seed42-eager.callgrind.gz'."""
    name = fullname.rsplit("::", 1)[-1].replace("[", "-").rstrip("]")
    return _UNSAFE.sub("_", name) + PROFILE_SUFFIX


def compress_dump(dump: Path) -> bytes:
    """A callgrind dump as its profile file holds it (the same bytes for the same dump)."""
    return gzip.compress(Path(dump).read_bytes(), compresslevel=9, mtime=0)


def free_folder_name(json_folders: list[Path], session: str, process: int) -> str:
    """A profile folder name that none of ``json_folders`` holds yet."""
    base = profile_folder_name(session, process)
    name, index = base, 1
    while any((Path(folder) / name).exists() for folder in json_folders):
        index += 1
        name = f"{base}-{index}"
    return name


def write_profiles(
    json_folder: Path, folder_name: str, compressed: Mapping[str, bytes]
) -> dict[str, str]:
    """Each case's profile (``compress_dump``'s bytes) into ``json_folder/folder_name/``; each
    case's path relative to a JSON file in ``json_folder``, by full name. Never overwrites."""
    written = {}
    for fullname, data in compressed.items():
        relative = PurePosixPath(folder_name, profile_file_name(fullname))
        write_file(Path(json_folder) / relative, lambda handle, d=data: handle.write(d), False)
        written[fullname] = relative.as_posix()
    return written


def case_profile(json_path: Path, case: BenchCase) -> tuple[Path, int] | None:
    """The case's profile and the calls it covers, where its extra_info names one; None where
    it names none. A name that leaves the JSON file's folder is refused."""
    named = case.extra_info.get(PROFILE_KEY)
    if named is None:
        return None
    relative = PurePosixPath(str(named))
    if not isinstance(named, str) or relative.is_absolute() or ".." in relative.parts:
        raise ProfileError(f"{json_path}: {case.fullname}: profile {named!r} is not a path "
                           "inside the file's folder")  # fmt: skip
    calls = case.extra_info.get(CALLS_KEY, 1)
    if not isinstance(calls, int) or isinstance(calls, bool) or calls < 1:
        raise ProfileError(f"{json_path}: {case.fullname}: {CALLS_KEY} must be an integer >= 1")
    return Path(json_path).parent / relative, calls


def copy_profiles(source_json: Path, target_json: Path, cases: tuple[BenchCase, ...]) -> list[Path]:
    """The profiles the cases name, copied beside ``target_json`` under the same relative
    paths (so the copied JSON names them as it did). A profile already there is left alone."""
    copied = []
    for case in cases:
        found = case_profile(source_json, case)
        if found is None:
            continue
        source = found[0]
        target = Path(target_json).parent / str(case.extra_info[PROFILE_KEY])
        if target.exists():
            continue
        check_regular_file(source)
        data = source.read_bytes()
        copied.append(write_file(target, lambda handle, d=data: handle.write(d), False))
    return copied


def missing_annotate() -> str | None:
    """Why profiles cannot be read here, or None."""
    if shutil.which(ANNOTATE) is None:
        return f"{ANNOTATE} not found (Debian package valgrind)"
    return None


def read_profile(path: Path, calls: int) -> FunctionTable:
    """The profile's function table, inclusive and exclusive, by ``callgrind_annotate``."""
    problem = missing_annotate()
    if problem:
        raise ProfileError(f"{path}: cannot be read: {problem}")
    info = _check_profile(path)
    if info.st_size > MAX_PROFILE_BYTES:
        raise ProfileError(f"{path}: {info.st_size} bytes, larger than any profile")
    with tempfile.TemporaryDirectory(prefix="linreg-profile-") as work:
        dump = Path(work) / "callgrind.out"
        try:
            with gzip.open(path, "rb") as source, dump.open("wb") as target:
                shutil.copyfileobj(source, target)
        except (OSError, EOFError) as exc:
            raise ProfileError(f"{path}: not a readable gzip file ({exc})") from None
        tables = [_annotate(path, dump, inclusive) for inclusive in (True, False)]
    (total, inclusive), (_, exclusive) = tables
    return FunctionTable(Path(path), calls, total, inclusive, exclusive)


def _check_profile(path: Path) -> os.stat_result:
    try:
        return check_regular_file(Path(path))
    except ResultSetError as exc:
        raise ProfileError(str(exc)) from None


def _annotate(path: Path, dump: Path, inclusive: bool) -> tuple[int, tuple[tuple[int, str], ...]]:
    # torch.utils.benchmark's options (every function, plain counts), and no source annotation:
    # the function table is all that is read.
    command = [ANNOTATE, f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100",
               "--show-percs=no", "--auto=no", str(dump)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProfileError(f"{path}: {ANNOTATE} failed ({last})")
    try:
        return parse_annotate(done.stdout)
    except ValueError as exc:
        raise ProfileError(f"{path}: {exc}") from None


# callgrind_annotate's output, read as torch.utils.benchmark reads it (its reader is a closure
# inside the valgrind wrapper, not callable on a stored file): the PROGRAM TOTALS line, then,
# after the "Ir  file:function" header, one "count  file:function [object]" line per function.
_TOTAL = re.compile(r"^\s*([0-9,]+)\s+(?:\([^)]*\)\s+)?PROGRAM TOTALS")
_HEADER = re.compile(r"^\s*Ir\s+(?:\S+\s+)?file:function")
_FUNCTION = re.compile(r"^\s*([0-9,]+)\s+(?:\([^)]*\)\s+)?(.+:.+)$")
_RULE = re.compile(r"^-+$")


def parse_annotate(text: str) -> tuple[int, tuple[tuple[int, str], ...]]:
    """(program total, ((count, "file:function [object]"), ...)) from callgrind_annotate's
    output; ValueError where it has no total or no function table."""
    total = None
    functions: list[tuple[int, str]] = []
    lines = iter(text.splitlines())
    for line in lines:
        if total is None:
            match = _TOTAL.match(line)
            if match:
                total = int(match.group(1).replace(",", ""))
        elif _HEADER.match(line):
            break
    else:
        raise ValueError("no PROGRAM TOTALS and function table in callgrind_annotate's output")
    for line in lines:
        match = _FUNCTION.match(line)
        if match:
            count = int(match.group(1).replace(",", ""))
            # A dump's top-level frames (below main) carry the whole total: no function's own.
            if count != total:
                functions.append((count, match.group(2)))
        elif _RULE.match(line.strip()) and not functions:
            continue
        else:
            break
    return total, tuple(functions)
