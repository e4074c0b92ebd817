"""One process of a repro run: trains a list of configs and writes each Run as it finishes.

`python -m linreg.suites.repro_worker [--replays DIR PARENT_PID] [--finish-resumes RESUME_DIR]
CONFIGS_JSON OUT_DIR [RESUME_DIR]` — one process trains many configs, so a matrix costs two
interpreter start-ups (one per copy), not two per config. Given ``--replays``, it then serves its
side of the run's replays (``linreg.suites.replay_sides``).
Given RESUME_DIR, it first writes the resume check's checkpoints there
(``linreg.suites.repro_resume``): this process has torch warm already. Given
``--finish-resumes``, it first of all finishes the runs checkpointed there, the resume check's
fresh process (``linreg.suites.resume_worker``). A config whose file
exists already is skipped: that is what makes an interrupted repro run resumable. Ctrl-C and
SIGTERM end it through the writer's cleanup: the file being written is removed, never left half.
"""

from __future__ import annotations

import sys
from pathlib import Path

from linreg.config import TrainConfig
from linreg.engines import train
from linreg.results import kinds
from linreg.results.files import write_json_new
from linreg.results.run_folder import run_record
from linreg.suites.replay_worker import replay_all
from linreg.suites.repro_copies import CopySteps, copy_worker_main
from linreg.suites.repro_resume import read_config_list, write_resume_points
from linreg.suites.resume_worker import resume_all

# The list of configs both workers train, beside the copies' folders (hidden: not a result).
CONFIG_LIST = ".configs.json"


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


STEPS = CopySteps(read_config_list, write_resume_points, resume_all, train_all, replay_all)


def main(argv: list[str]) -> int:
    return copy_worker_main("linreg.suites.repro_worker", argv, STEPS)


if __name__ == "__main__":
    from linreg.process_exit import exit_process

    exit_process(main(sys.argv[1:]))
