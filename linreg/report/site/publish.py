"""Where a site is written: a new folder, an empty one, or an earlier site, which is rebuilt
whole. The site is built in a hidden folder beside ``--out`` and renamed into place when
complete, so ``--out`` never holds half a site: a reader sees the earlier site or the new one
(between the two renames of a rebuild, briefly, neither).

A folder is taken for an earlier site by its marker file, and rebuilt only if it holds nothing
but what a site holds: a file someone put there is never deleted by a rebuild.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from linreg.errors import OutputError
from linreg.json_types import JsonObject
from linreg.report.site.pages import CASES, INDEX, NUMERICS, PLOTLY_JS
from linreg.results.files import check_writable, publish

MARKER = "linreg-history.json"
MARKER_KIND = "linreg-history-site"
SITE_ENTRIES = {INDEX, NUMERICS, PLOTLY_JS, CASES, MARKER}


def is_site(folder: Path) -> bool:
    """Whether ``folder`` holds a site `linreg history` wrote (its marker file says so)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("kind") == MARKER_KIND


def check_out(out: Path, option: str = "--out") -> None:
    """Before any work: ``out`` may be new, an empty folder, or an earlier site holding only
    what a site holds. OutputError (exit 2) for anything else."""
    if out.exists() or out.is_symlink():
        if out.is_symlink():
            raise OutputError(f"{option} {out}: a link; give the folder it points to")
        if not out.is_dir():
            raise OutputError(f"{option} {out}: exists and is not a folder")
        entries = sorted(p.name for p in out.iterdir())
        if entries and not is_site(out):
            raise OutputError(
                f"{option} {out}: exists and is not a site linreg history built (no {MARKER});"
                " give a new or empty folder"
            )
        foreign = [name for name in entries if name not in SITE_ENTRIES]
        if foreign:
            raise OutputError(
                f"{option} {out}: an earlier site, but it also holds {', '.join(foreign[:5])}, "
                "which rebuilding it would delete; move them out first"
            )
    check_writable(out, option)


def marker(body: JsonObject) -> str:
    return json.dumps({"kind": MARKER_KIND, **body}, indent=1, sort_keys=True) + "\n"


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A hidden folder beside ``out`` to build the site in; when the block ends without an
    error it takes ``out``'s place, else it is removed and ``out`` is left as it was."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as exc:
        raise OutputError(f"{out}: cannot be written ({exc.strerror or exc})") from exc
    try:
        yield temp
        publish(temp, directory=True)
        _swap(temp, out)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _swap(new: Path, out: Path) -> None:
    try:
        if not out.exists():
            os.rename(new, out)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.rename(out, old / "site")
        try:
            os.rename(new, out)
        except OSError:
            os.rename(old / "site", out)  # the earlier site back where it was
            raise
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot be written ({exc.strerror or exc})") from exc
