"""The target resume check's files: a run stopped half-way, its checkpoint, and its finish.

For each config of ``TargetReproMatrix.resume_configs`` the first copy's worker, before its own
runs, trains to step ``steps // 2``, writes a target training checkpoint (as ``linreg train
--target X --stop-at``) and, beside it, the state that run had then, piece by piece, read from
the live model, optimizer, scheduler and generators (``linreg.engines.target_pieces``). The
second copy's worker, first of all (a fresh process: it has trained nothing yet), waits for each
checkpoint, loads it, records the pieces it restored, and finishes the run
(``linreg.suites.target_resume_worker``); then it trains its copy. The check sets the two states
side by side, then the finished run against the uninterrupted one the matrix trained anyway.

Everything lives in ``<result set>/resume/``: files of their own kinds, which a result set's
walkers pass over (a resumed run is not another run of its config).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linreg.engines.target_loop import prepare_target
from linreg.errors import ResultSetError
from linreg.results import kinds
from linreg.results.files import read_json, write_json_new
from linreg.results.load import load
from linreg.results.target_checkpoint import save_target_checkpoint
from linreg.suites.repro_resume import (  # the files are named alike: by config id
    checkpoint_file,
    point_file,
    read_pieces,
    resumed_file,
)
from linreg.target_config import TargetConfig
from linreg.target_run import TargetRun


def resume_step(config: TargetConfig) -> int:
    return (config.steps or 0) // 2


def write_config_list(path: Path, configs: list[TargetConfig]) -> None:
    if not path.exists():
        write_json_new(path, {"configs": [c.to_dict() for c in configs]})


def read_config_list(path: Path) -> list[TargetConfig]:
    try:
        return [TargetConfig.from_dict(c) for c in read_json(path)["configs"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ResultSetError(f"{path}: malformed list of configs ({exc!r})") from None


def write_resume_points(configs: list[TargetConfig], resume_dir: Path) -> None:
    """Train each config to its resume step; write the checkpoint, then the state it had.

    A point is done when its state file exists (written last); a checkpoint without one is
    what an interrupted write left, and is written again.
    """
    for config in configs:
        point = point_file(resume_dir, config)
        if point.exists():
            continue
        checkpoint_file(resume_dir, config).unlink(missing_ok=True)
        prepared = prepare_target(config, stop_at=resume_step(config))
        prepared.loop()
        save_target_checkpoint(prepared.training_state(), checkpoint_file(resume_dir, config))
        # A list of (name, value): JSON objects are written with sorted keys, and the order of
        # the pieces decides which is named first.
        body = {"config_id": config.config_id, "step": resume_step(config),
                "pieces": list(prepared.pieces().items())}  # fmt: skip
        write_json_new(point, kinds.envelope(kinds.TARGET_RESUME_POINT, body))


@dataclass(frozen=True)
class TargetResumption:
    """One config's resume: its state at the checkpoint's step as the stopped run had it
    (``expected``) and as the fresh process restored it (``restored``), and the finished run."""

    step: int
    expected: dict[str, Any]
    restored: dict[str, Any]
    run: TargetRun


def load_resumption(resume_dir: Path, config: TargetConfig) -> TargetResumption:
    step, expected = load(point_file(resume_dir, config), (kinds.TARGET_RESUME_POINT,), _point)
    restored, run = load(resumed_file(resume_dir, config), (kinds.TARGET_RESUMED,), _resumed)
    return TargetResumption(step, expected, restored, run)


def _point(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if not isinstance(data["step"], int) or isinstance(data["step"], bool):
        raise ValueError("a resume point needs the step it was taken at")
    return data["step"], read_pieces("pieces", data["pieces"])


def _resumed(data: dict[str, Any]) -> tuple[dict[str, Any], TargetRun]:
    return read_pieces("restored", data["restored"]), TargetRun.from_dict(data)
