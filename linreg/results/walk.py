"""The one walker over result folders.

Hidden entries are passed over: a name starting with "." is a temp file or a staging folder of a
write that has not finished (or was killed), never a result. So is anything that is not a
regular file: a FIFO would block a reader, a device would never end. Neither is opened.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from linreg.errors import ResultSetError
from linreg.results.files import check_regular_file


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def result_files(root: str | Path, suffix: str = ".json") -> Iterator[Path]:
    """Regular files named ``*suffix`` under ``root``, recursively, in a stable (sorted) order.

    Linked folders are followed (a results folder may gather run folders by link), each real
    folder once, so a link loop ends.
    """
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        for name in sorted(files):
            if is_hidden(name) or not name.endswith(suffix):
                continue
            path = Path(folder) / name
            try:
                mode = os.stat(path).st_mode
            except OSError:
                continue  # vanished, or a dangling link
            if stat.S_ISREG(mode):
                yield path


def walk_key(path: Path, root: Path) -> tuple[tuple[int, str], ...]:
    """Where ``result_files(root)`` yields ``path``: a folder's files before its sub-folders,
    each in name order. Records made in memory sort with it as a walk would find them."""
    parts = path.resolve().relative_to(root.resolve()).parts
    return (*((1, part) for part in parts[:-1]), (0, parts[-1]))


def expand(path: str | Path, suffix: str = ".json") -> list[Path]:
    """A path a user named: the file itself (which must be a regular file), or a folder's files.

    A missing path, or one that is neither a folder nor a regular file, is refused by name.
    """
    path = Path(path)
    if path.is_dir():
        return list(result_files(path, suffix))
    if not os.path.lexists(path):
        raise ResultSetError(f"{path}: no such file or folder")
    check_regular_file(path)
    return [path]
