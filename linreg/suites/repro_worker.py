"""One process of a repro run: trains a list of configs and writes each Run as it finishes.

`python -m linreg.suites.repro_worker [--replays DIR PARENT_PID] CONFIGS_JSON OUT_DIR [RESUME_DIR]`
— one process trains many configs, so a matrix costs two interpreter start-ups (one per copy),
not two per config. Given ``--replays``, it then waits for its side of the run's replays (the
jobs ``linreg.suites.replay_worker`` takes, in DIR/jobs.json; an empty list where there are
none), traces them into DIR and ends, or gives up once PARENT_PID is no longer its parent: the
copies are the replay's two processes, one a side, rather than two more interpreters importing
torch.
Given RESUME_DIR, it first writes the resume check's checkpoints there
(``linreg.suites.repro_resume``): this process has torch warm already. A config whose file
exists already is skipped: that is what makes an interrupted repro run resumable. Ctrl-C and
SIGTERM end it through the writer's cleanup: the file being written is removed, never left half.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from linreg.config import TrainConfig
from linreg.engines import train
from linreg.errors import ResultSetError
from linreg.results import kinds
from linreg.results.files import read_json, write_json_new
from linreg.results.run_folder import run_record
from linreg.suites.replay import JOBS_FILE
from linreg.suites.replay_worker import replay_all
from linreg.suites.repro_resume import RESUME_LIST, write_resume_points
from linreg.suites.worker import worker_main

# The list of configs both workers train, beside the copies' folders (hidden: not a result).
CONFIG_LIST = ".configs.json"
REPLAYS_OPTION = "--replays"
JOBS_POLL_S = 0.02


def run_file(out_dir: Path, config: TrainConfig) -> Path:
    return out_dir / f"{config.config_id}.json"


def train_all(configs: list[TrainConfig], out_dir: Path) -> None:
    for config in configs:
        target = run_file(out_dir, config)
        if target.exists():
            continue
        record = run_record(train(config), kinds.REPRO_RUN)
        record["requested_config_id"] = config.config_id
        write_json_new(target, record)


def read_config_list(path: Path) -> list[TrainConfig]:
    try:
        return [TrainConfig.from_dict(c) for c in read_json(path)["configs"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ResultSetError(f"{path}: malformed list of configs ({exc!r})") from None


def serve_replays(folder: Path, parent: int) -> None:
    """Trace the replay jobs the parent writes (whole, by rename) to ``folder``/jobs.json once
    it has checked the copies' runs; give up where the parent has gone."""
    jobs = folder / JOBS_FILE
    while not jobs.exists():
        if os.getppid() != parent:
            raise ResultSetError("the repro run that started this worker has ended")
        time.sleep(JOBS_POLL_S)
    replay_all(jobs, folder)


def main(argv: list[str]) -> int:
    replays = None
    if argv[:1] == [REPLAYS_OPTION] and len(argv) > 2 and argv[2].isdigit():
        replays, parent, argv = Path(argv[1]), int(argv[2]), argv[3:]

    def work(args: list[str]) -> None:
        if len(args) == 3:
            resume_dir = Path(args[2])
            write_resume_points(read_config_list(resume_dir / RESUME_LIST), resume_dir)
        train_all(read_config_list(Path(args[0])), Path(args[1]))
        if replays is not None:
            serve_replays(replays, parent)

    return worker_main("linreg.suites.repro_worker",
                       f"[{REPLAYS_OPTION} DIR PARENT_PID] CONFIGS_JSON OUT_DIR [RESUME_DIR]",
                       argv, (2, 3), work)  # fmt: skip


if __name__ == "__main__":
    from linreg.process_exit import exit_process

    exit_process(main(sys.argv[1:]))
