"""A target's run folder: run.json (kind "target-run"), history.csv and model.pth, written all
at once through the run folder's staging (linreg.results.run_folder)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from linreg.json_types import JsonObject
from linreg.results import kinds
from linreg.results.files import dumps
from linreg.results.run_folder import HISTORY_CSV, write_folder
from linreg.target_run import TargetRun


def new_target_run_id(run: TargetRun) -> str:
    """Sortable by time; says the target, its code, the size and how it ran."""
    c = run.config
    return (
        f"{kinds.utc_stamp()}-{c.target.name}-{c.target.short_hash[:8]}-{c.size}-{c.engine}"
        f"-{c.device.replace(':', '')}-{c.dtype}-seed{c.seed}-{c.config_id[:8]}"
    )


def target_run_record(run: TargetRun) -> JsonObject:
    """The record as written, stamped with when it was written (a run read back keeps its own)."""
    record = kinds.envelope(kinds.TARGET_RUN, run.to_dict())
    record.setdefault("created", kinds.utc_stamp())
    return record


def target_history_csv(run: TargetRun) -> str:
    """One row per step; repr() of a float reads back to the same float64, hence exactly."""
    lines = ["step,train_loss,eval_loss"]
    for step, train, evaluated in run.rows():
        lines.append(f"{step},{train!r},{'' if evaluated is None else repr(evaluated)}")
    return "\n".join(lines) + "\n"


def write_target_run_folder(
    run: TargetRun, state: Mapping[str, torch.Tensor], out_dir: str | Path
) -> Path:
    """run.json, history.csv and model.pth (the trained state_dict) in ``out_dir``, published
    whole or not at all; an existing, non-empty ``out_dir`` is refused."""
    texts = {kinds.RUN_FILE: dumps(target_run_record(run)), HISTORY_CSV: target_history_csv(run)}
    return write_folder(out_dir, texts, state)
