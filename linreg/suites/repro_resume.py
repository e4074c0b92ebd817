"""The resume check's files: a run stopped half-way, its checkpoint, and its resumed finish.

For each config of ``ReproMatrix.resume_configs`` the first copy's worker, before its own runs,
trains to epoch ``epochs // 2``, writes a training checkpoint and, beside it, the state that run
had at that epoch, piece by piece (``linreg.training_state.pieces``, taken from the live model,
optimizer and generators). The second copy's worker, first of all (a fresh process: it has
trained nothing yet), waits for each checkpoint, loads it, records the state it restored, and
finishes the run (``linreg.suites.resume_worker``); then it trains its copy. The check then
sets the two states side by side and the resumed run against the uninterrupted one the matrix
trained anyway.

Everything lives in ``<result set>/resume/``: files of their own kinds, which result sets pass
over (a resumed run is not another run of its config).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linreg.config import TrainConfig
from linreg.engines.resumable import train_until
from linreg.errors import ResultSetError
from linreg.results import kinds
from linreg.results.files import read_json, write_json_new
from linreg.results.load import load
from linreg.results.training_checkpoint import save_training_checkpoint
from linreg.run import Run
from linreg.target_config import TargetConfig
from linreg.training_state import pieces

RESUME_DIR = "resume"
# The configs the resume worker finishes, beside their files (hidden: not a result).
RESUME_LIST = ".configs.json"
# How long the resume worker waits for a checkpoint before it gives up; the process running the
# matrix stops it sooner if the worker writing the checkpoints fails.
WAIT_SECONDS = 600.0


def resume_epoch(config: TrainConfig) -> int:
    return config.epochs // 2


def checkpoint_file(resume_dir: Path, config: TrainConfig | TargetConfig) -> Path:
    return resume_dir / f"{config.config_id}.pt"


def point_file(resume_dir: Path, config: TrainConfig | TargetConfig) -> Path:
    return resume_dir / f"{config.config_id}-point.json"


def resumed_file(resume_dir: Path, config: TrainConfig | TargetConfig) -> Path:
    return resume_dir / f"{config.config_id}-resumed.json"


def read_config_list(path: Path) -> list[TrainConfig]:
    """The configs of a list written by ``write_resume_list`` or a repro run's CONFIG_LIST."""
    try:
        return [TrainConfig.from_dict(c) for c in read_json(path)["configs"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ResultSetError(f"{path}: malformed list of configs ({exc!r})") from None


def write_resume_list(configs: list[TrainConfig], resume_dir: Path) -> None:
    if configs and not (resume_dir / RESUME_LIST).exists():
        write_json_new(resume_dir / RESUME_LIST, {"configs": [c.to_dict() for c in configs]})


def write_resume_points(configs: list[TrainConfig], resume_dir: Path) -> None:
    """Train each config to its resume epoch; write the checkpoint, then the state it had.

    A point is done when its state file exists (written last); a checkpoint without one is
    what an interrupted write left, and is written again.
    """
    for config in configs:
        point = point_file(resume_dir, config)
        if point.exists():
            continue
        checkpoint_file(resume_dir, config).unlink(missing_ok=True)
        state = train_until(config, resume_epoch(config))
        save_training_checkpoint(state, checkpoint_file(resume_dir, config))
        # A list of (name, value): JSON objects are written with sorted keys, and the order of
        # the pieces decides which is named first.
        body = {"config_id": config.config_id, "epoch": state.epoch,
                "pieces": list(pieces(state).items())}  # fmt: skip
        write_json_new(point, kinds.envelope(kinds.REPRO_RESUME_POINT, body))


def wait_for_point(
    resume_dir: Path, config: TrainConfig | TargetConfig, timeout_s: float = WAIT_SECONDS
) -> None:
    """Return once the config's resume point is written (its checkpoint is then complete)."""
    if not point_file(resume_dir, config).exists():
        # The first optimizer a process makes imports torch._dynamo (about 1.4 s here): imported
        # while the first copy's worker is still writing the point, rather than after it.
        import torch._dynamo  # noqa: F401
    deadline = time.monotonic() + timeout_s
    while not point_file(resume_dir, config).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no resume point for {config.config_id} after {timeout_s:.0f} s")
        time.sleep(0.05)


# What the second copy's worker is started with to finish the resume check's runs first.
FINISH_OPTION = "--finish-resumes"


def finishing_args(resume_dir: Path) -> list[str]:
    return [FINISH_OPTION, str(resume_dir)]


def finishing_from(argv: list[str]) -> tuple[Path | None, list[str]]:
    """A copy's worker's ``--finish-resumes RESUME_DIR``, if given, and the arguments after it;
    the option without its folder leaves no arguments, so that the worker prints its usage."""
    if argv[:1] != [FINISH_OPTION]:
        return None, argv
    if len(argv) > 1:
        return Path(argv[1]), argv[2:]
    return None, []


@dataclass(frozen=True)
class Resumption:
    """One config's resume: the state at the checkpoint's epoch as the stopped run had it
    (``expected``) and as the fresh process restored it (``restored``), and the finished run."""

    epoch: int
    expected: dict[str, Any]
    restored: dict[str, Any]
    run: Run


def load_resumption(resume_dir: Path, config: TrainConfig) -> Resumption:
    expected = load(point_file(resume_dir, config), (kinds.REPRO_RESUME_POINT,), _point)
    restored, run = load(resumed_file(resume_dir, config), (kinds.REPRO_RESUMED,), _resumed)
    return Resumption(expected[0], expected[1], restored, run)


def _point(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if not isinstance(data["epoch"], int) or isinstance(data["epoch"], bool):
        raise ValueError("a resume point needs the epoch it was taken at")
    return data["epoch"], read_pieces("pieces", data["pieces"])


def _resumed(data: dict[str, Any]) -> tuple[dict[str, Any], Run]:
    return read_pieces("restored", data["restored"]), Run.from_dict(data)


def read_pieces(key: str, value: Any) -> dict[str, Any]:
    """Pieces stored as a list of [name, value], in order."""
    if not isinstance(value, list) or not all(
        isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) for item in value
    ):
        raise ValueError(f"{key} must be a list of [name, value] pairs")
    return dict(value)
