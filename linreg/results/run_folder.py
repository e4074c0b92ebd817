"""Run folders: run.json, history.csv, model.pth and extra files, published all at once."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch

from linreg.errors import OutputError
from linreg.results import kinds
from linreg.results.checkpoint import save_checkpoint
from linreg.results.files import TEMP_SUFFIX, check_new_folder, dumps, publish
from linreg.run import Run
from linreg.signals import signals_deferred

HISTORY_CSV = "history.csv"
CHECKPOINT = "model.pth"


def new_run_id(run: Run) -> str:
    c = run.config
    return (
        f"{kinds.utc_stamp()}-{c.engine}-{c.device.replace(':', '')}-{c.dtype}"
        f"-seed{c.seed}-{c.config_id[:8]}"
    )


def run_record(run: Run, kind: str = kinds.RUN) -> dict:
    """The record as written: stamped with when it was written (a run read back keeps its own
    stamp), so that of several runs of one config a reader can take the newest."""
    record = kinds.envelope(kind, run.to_dict())
    record.setdefault("created", kinds.utc_stamp())
    return record


def history_csv(run: Run) -> str:
    """One row per epoch; repr() of a float reads back to the same float64, hence exactly."""
    lines = ["epoch,train_loss,test_loss"]
    for epoch, train, test in run.history.rows():
        lines.append(f"{epoch},{train!r},{'' if test is None else repr(test)}")
    return "\n".join(lines) + "\n"


def write_run_folder(
    run: Run,
    state: Mapping[str, torch.Tensor],
    out_dir: str | Path,
    extra_files: Mapping[str, str] | None = None,
) -> Path:
    """Write run.json, history.csv, model.pth and any extra text files into ``out_dir``."""
    texts = {kinds.RUN_FILE: dumps(run_record(run)), HISTORY_CSV: history_csv(run)}
    return write_folder(out_dir, {**texts, **(extra_files or {})}, state)


def write_folder(
    out_dir: str | Path, texts: Mapping[str, str], state: Mapping[str, torch.Tensor]
) -> Path:
    """Write the text files and the state (as model.pth) into ``out_dir``, all at once.

    Everything is written into a hidden sibling folder first and renamed into place at the end,
    so a failure part-way leaves no folder that looks like a finished run (and the walker passes
    over the hidden one).
    """
    out_dir = Path(out_dir)
    check_new_folder(out_dir)
    parent = out_dir.parent
    staging: Path | None = None
    try:
        # Made and taken charge of in one step: an interrupt lands before or after both.
        with signals_deferred():
            parent.mkdir(parents=True, exist_ok=True)
            staging = Path(
                tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=TEMP_SUFFIX, dir=parent)
            )
        for name, text in texts.items():
            (staging / name).write_text(text, encoding="utf-8")
        save_checkpoint(state, staging / CHECKPOINT)
        publish(staging, directory=True)
        for file in staging.iterdir():
            publish(file)
        with signals_deferred():  # an empty --out the user made is not removed for nothing
            if out_dir.exists():
                out_dir.rmdir()  # empty, checked above; rename cannot replace a folder portably
            os.rename(staging, out_dir)
    except OSError as exc:
        _discard(staging)
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):  # another run took --out meanwhile
            raise OutputError(
                f"--out {out_dir}: already exists and is not empty; results are never overwritten"
            ) from exc
        raise OutputError(f"--out {out_dir}: cannot be written ({exc.strerror or exc})") from exc
    except BaseException:
        _discard(staging)
        raise
    return out_dir


def _discard(staging: Path | None) -> None:
    """The staging folder removed whole: a second interrupt waits until it is gone."""
    if staging is not None:
        with signals_deferred():
            shutil.rmtree(staging, ignore_errors=True)
