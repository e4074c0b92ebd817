"""Results on disk: run folders and JSON result files, written atomically and never overwritten."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from linreg.checkpoint import save_checkpoint
from linreg.errors import OutputError, ResultSetError
from linreg.run import Run

RUN_JSON = "run.json"
HISTORY_CSV = "history.csv"
CHECKPOINT = "model.pth"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, directory: bool = False) -> None:
    """mkstemp/mkdtemp create private files; results are meant to be shared like any other."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def new_run_id(run: Run) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    c = run.config
    return (
        f"{stamp}-{c.engine}-{c.device.replace(':', '')}-{c.dtype}-seed{c.seed}-{c.config_id[:8]}"
    )


def history_csv(run: Run) -> str:
    """One row per epoch; repr() of a float reads back to the same float64, hence exactly."""
    lines = ["epoch,train_loss,test_loss"]
    for epoch, train, test in run.history.rows():
        lines.append(f"{epoch},{train!r},{'' if test is None else repr(test)}")
    return "\n".join(lines) + "\n"


def dumps(data: Any) -> str:
    # allow_nan=False: a NaN in a result is a bug upstream, not something to write down quietly.
    return json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n"


def check_new_folder(out_dir: Path, option: str = "--out") -> None:
    """Refuse a results folder that holds anything, or whose nearest existing parent is not a
    writable folder; checked before work starts so that bad input costs no work."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputError(
            f"{option} {out_dir}: already exists and is not empty; results are never overwritten"
        )
    probe = out_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{option} {out_dir}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {out_dir}: {probe} is not writable")


def write_run_folder(
    run: Run,
    state: Mapping[str, torch.Tensor],
    out_dir: str | Path,
    extra_files: Mapping[str, str] | None = None,
) -> Path:
    """Write run.json, history.csv, model.pth and any extra text files into ``out_dir``.

    Everything is written into a hidden sibling folder first and renamed into place at the end,
    so a failure part-way leaves no folder that looks like a finished run.
    """
    out_dir = Path(out_dir)
    check_new_folder(out_dir)
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=parent))
    except OSError as exc:
        raise OutputError(f"--out {out_dir}: cannot be written ({exc.strerror or exc})") from exc
    try:
        (staging / RUN_JSON).write_text(dumps(run.to_dict()))
        (staging / HISTORY_CSV).write_text(history_csv(run))
        save_checkpoint(state, staging / CHECKPOINT)
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        _publish_mode(staging, directory=True)
        for file in staging.iterdir():
            _publish_mode(file)
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above; rename cannot replace a folder portably
        os.rename(staging, out_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"--out {out_dir}: cannot be written ({exc.strerror or exc})") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _write_temp(path: Path, text: str) -> Path:
    """``text`` in a hidden, synced temp file beside ``path``, with the umask's permissions;
    the caller links or renames it into place and removes what is left."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot be written ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _publish_mode(Path(tmp))
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot be written ({exc.strerror or exc})") from exc
    return Path(tmp)


def write_json_new(path: str | Path, data: Any) -> Path:
    """Write a JSON file atomically; refuse to replace an existing file."""
    path = Path(path)
    tmp = _write_temp(path, dumps(data))
    try:
        # link() fails if the name exists: no check-then-write race, results only grow.
        os.link(tmp, path)
    except FileExistsError as exc:
        raise OutputError(f"{path}: already exists; results are never overwritten") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Replace ``path`` with ``text`` in one rename: a reader sees the old file or the new one."""
    path = Path(path)
    tmp = _write_temp(path, text)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot be written ({exc.strerror or exc})") from exc
    return path


def read_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ResultSetError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultSetError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ResultSetError(f"{path}: expected a JSON object at the top level")
    return data


def load_run(path: str | Path) -> Run:
    """A Run from a run folder or its run.json."""
    path = Path(path)
    file = path / RUN_JSON if path.is_dir() else path
    data = read_json(file)
    if data.get("kind") != "run":
        raise ResultSetError(f"{file}: not a linreg run record")
    try:
        return Run.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultSetError(f"{file}: malformed run record ({exc})") from exc
