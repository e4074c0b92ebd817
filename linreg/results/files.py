"""Reading a result file, and the one atomic writer every result file goes through.

Reading opens regular files only: a FIFO would block, a device (``/dev/zero``) would never end.
Writing goes to a hidden temp file beside the target, synced, given the mode any file written by
this user gets (0644 under the usual umask 022), then linked or renamed into place; the temp
file is removed whatever stops the write, a Ctrl-C or SIGTERM included.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from linreg.errors import OutputError, ResultSetError
from linreg.json_types import JsonObject
from linreg.signals import signals_deferred

# Larger than any result linreg writes (a 1e6-member sweep is ~200 MB): a bigger file is a mistake.
MAX_RESULT_BYTES = 1 << 30
TEMP_SUFFIX = ".partial"


def check_new_folder(out_dir: Path, option: str = "--out") -> None:
    """Refuse a results folder that holds anything, or whose nearest existing parent is not a
    writable folder; checked before work starts so that bad input costs no work."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputError(
            f"{option} {out_dir}: already exists and is not empty; results are never overwritten"
        )
    check_writable(out_dir, option)


def check_writable(path: Path, option: str = "--out") -> None:
    """Refuse a path whose nearest existing parent is not a writable folder."""
    probe = path.parent if path.exists() else path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{option} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: {probe} is not writable")


def check_regular_file(path: Path) -> os.stat_result:
    """The file's stat, or ResultSetError naming why it cannot be read as a result file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ResultSetError(f"{path}: no such file") from None
    except OSError as exc:
        raise ResultSetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ResultSetError(f"{path}: a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ResultSetError(f"{path}: not a regular file (a FIFO, device or socket); not read")
    if info.st_size > MAX_RESULT_BYTES:
        raise ResultSetError(
            f"{path}: {info.st_size} bytes, larger than any result file ({MAX_RESULT_BYTES})"
        )
    return info


def read_json(path: str | Path) -> JsonObject:
    """A JSON object from a regular file, or ResultSetError naming the file and the problem."""
    path = Path(path)
    check_regular_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultSetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    # ValueError covers bad JSON and integers beyond Python's digit limit; RecursionError, nesting.
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ResultSetError(f"{path}: not readable JSON ({_first_line(exc)})") from None
    if not isinstance(data, dict):
        raise ResultSetError(f"{path}: expected a JSON object at the top level")
    return data


def file_sha256(path: str | Path) -> str:
    """The sha256 of a regular file's bytes, or ResultSetError naming why it cannot be read."""
    path = Path(path)
    check_regular_file(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ResultSetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return digest.hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def remove_temp_files(folder: Path) -> None:
    """Remove the temp files of writes that were killed before they could clean up."""
    for stale in folder.rglob(f".*{TEMP_SUFFIX}"):
        if stale.is_file():
            stale.unlink()


def dumps(data: Any) -> str:
    # allow_nan=False: a NaN in a result is a bug upstream, not something to write down quietly.
    return json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish(path: Path, directory: bool = False) -> None:
    """mkstemp/mkdtemp create private files; results are meant to be shared like any other."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _cannot_write(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"{path}: cannot be written ({exc.strerror or exc})")


def _make_temp(path: Path) -> tuple[IO[bytes], Path]:
    """A hidden temp file beside ``path``, open for writing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    return os.fdopen(fd, "wb"), Path(name)


def _discard(handle: IO[bytes] | None, tmp: Path | None) -> None:
    """The temp file closed and removed; a second interrupt waits until it is gone."""
    with signals_deferred():
        if handle is not None:
            handle.close()
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_file(path: str | Path, write: Callable[[IO[bytes]], object], replace: bool) -> Path:
    """The one atomic writer: ``write`` fills a temp file, which then takes ``path``'s name.

    ``replace=False`` refuses an existing file (results only grow): ``link`` fails if the name
    exists, so there is no check-then-write race. ``replace=True`` swaps the file in one rename:
    a reader sees the old file or the new one, never half of either.

    The temp file is removed whatever ends the write, a Ctrl-C or SIGTERM included, wherever it
    lands. One function with its own ``try`` rather than a context manager: an interrupt that
    lands after a generator's ``yield`` and before the ``with`` statement has taken charge
    skips the generator's clean-up.
    """
    path = Path(path)
    handle: IO[bytes] | None = None
    tmp: Path | None = None
    try:
        # Made and taken charge of in one step: an interrupt lands before or after both.
        with signals_deferred():
            handle, tmp = _make_temp(path)
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
        publish(tmp)
        # The name taken and the temp's removed in one step: no finished file leaves its temp.
        with signals_deferred():
            handle.close()
            if replace:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)
                tmp.unlink()
    # One handler, and no try nested in this one: CPython 3.11 leaves a nested try's first
    # instruction outside the outer try's handlers, where an interrupt skips the clean-up.
    except BaseException as exc:
        _discard(handle, tmp)
        if isinstance(exc, FileExistsError):
            raise OutputError(f"{path}: already exists; results are never overwritten") from exc
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from exc
        raise
    return path


def write_json_new(path: str | Path, data: Any) -> Path:
    """Write a JSON file atomically; refuse to replace an existing file."""
    text = dumps(data).encode()
    return write_file(path, lambda handle: handle.write(text), replace=False)


def write_json_replace(path: str | Path, data: Any) -> Path:
    """Replace a JSON file atomically: only for files a user asked to rewrite."""
    text = dumps(data).encode()
    return write_file(path, lambda handle: handle.write(text), replace=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Replace ``path`` with ``text`` in one rename: a reader sees the old file or the new one."""
    data = text.encode("utf-8")
    return write_file(path, lambda handle: handle.write(data), replace=True)
