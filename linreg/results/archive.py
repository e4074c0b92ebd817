"""One archive of a results folder, to carry home from a machine that cannot keep it.

A gzipped tar of every file under the folder (through the one walker, so temp files of
unfinished writes stay out), written through the one atomic writer. Where a file may not exceed
a size (a transfer's limit), the archive is cut into numbered parts that ``cat`` puts back
together: ``cat NAME.tar.gz.part* | tar xz``.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from linreg.errors import OutputError
from linreg.results.files import write_file
from linreg.results.walk import result_files

ARCHIVE_SUFFIX = ".tar.gz"


def write_archive(
    folder: Path,
    target: Path,
    top: str,
    exclude: Path | None = None,
    part_bytes: int | None = None,
) -> list[Path]:
    """Pack ``folder`` (less ``exclude``) as ``top/...`` into ``target``; the files written.

    One file when it fits in ``part_bytes`` (None: no limit), else ``target.partNN`` files of at
    most ``part_bytes`` each, and no whole archive beside them.
    """
    folder = Path(folder).resolve()
    skip = Path(exclude).resolve() if exclude is not None else None
    members = [
        path
        for path in result_files(folder, suffix="")
        if skip is None or not path.resolve().is_relative_to(skip)
    ]

    def pack(handle) -> None:
        with tarfile.open(fileobj=handle, mode="w:gz") as tar:
            for path in members:
                tar.add(path, arcname=f"{top}/{path.relative_to(folder).as_posix()}")

    write_file(target, pack, replace=False)
    if part_bytes is None or target.stat().st_size <= part_bytes:
        return [target]
    return _split(target, part_bytes)


def _split(whole: Path, part_bytes: int) -> list[Path]:
    parts = []
    try:
        with whole.open("rb") as source:
            index = 0
            while chunk := source.read(part_bytes):
                part = whole.with_name(f"{whole.name}.part{index:02d}")
                parts.append(write_file(part, lambda handle, data=chunk: handle.write(data),
                                        replace=False))  # fmt: skip
                index += 1
    except OSError as exc:
        raise OutputError(f"{whole}: cannot be cut into parts ({exc.strerror or exc})") from exc
    whole.unlink()
    return parts
