"""One process of a target's repro run: trains a list of configs and writes each run folder
(run.json, history.csv, model.pth) as it finishes.

`python -m linreg.suites.target_repro_worker [--replays DIR PARENT_PID] [--finish-resumes
RESUME_DIR] CONFIGS_JSON OUT_DIR [RESUME_DIR]` — one process trains many configs, so a matrix
costs one interpreter start-up per copy. Given RESUME_DIR, it first writes the resume check's
checkpoints there (``linreg.suites.target_repro_resume``); given ``--finish-resumes``, it first
of all finishes the runs checkpointed there, the resume check's fresh process
(``linreg.suites.target_resume_worker``); given ``--replays``, it then serves its side of the
run's replays (``linreg.suites.replay_sides``). A config whose folder exists is skipped: that
is what makes an interrupted repro run resumable.
Ctrl-C and SIGTERM end it through the writer's cleanup: no half-written folder stays.
"""

from __future__ import annotations

import sys
from pathlib import Path

from linreg.engines.target_loop import prepare_target
from linreg.results.target_run_folder import write_target_run_folder
from linreg.suites.repro_copies import CopySteps, copy_worker_main
from linreg.suites.target_replay_worker import replay_all
from linreg.suites.target_repro_resume import read_config_list, write_resume_points
from linreg.suites.target_resume_worker import resume_all
from linreg.target_config import TargetConfig

# The list of configs both workers train, beside the copies' folders (hidden: not a result).
CONFIG_LIST = ".configs.json"


def run_folder(out_dir: Path, config: TargetConfig) -> Path:
    return out_dir / config.config_id


def train_all(configs: list[TargetConfig], out_dir: Path) -> None:
    for config in configs:
        folder = run_folder(out_dir, config)
        if folder.exists():
            continue
        prepared = prepare_target(config)
        prepared.loop()
        write_target_run_folder(prepared.finish(), prepared.state_dict(), folder)


STEPS = CopySteps(read_config_list, write_resume_points, resume_all, train_all, replay_all)


def main(argv: list[str]) -> int:
    return copy_worker_main("linreg.suites.target_repro_worker", argv, STEPS)


if __name__ == "__main__":
    from linreg.process_exit import exit_process

    exit_process(main(sys.argv[1:]))
