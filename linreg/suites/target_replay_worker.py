"""One side of a target replay: traces a list of configs, each through its step, in one process.

`python -m linreg.suites.target_replay_worker JOBS_JSON OUT_DIR` writes OUT_DIR/<index>/ for each
job (``linreg.engines.target_trace``): scratch folders of the parent's, read back with
``weights_only=True`` and removed with their temporary folder, never results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from linreg.engines.target_trace import trace_target
from linreg.suites.worker import worker_main
from linreg.target_config import TargetConfig


def replay_all(jobs_path: Path, out_dir: Path) -> None:
    jobs = json.loads(jobs_path.read_text(encoding="utf-8"))
    for index, job in enumerate(jobs):
        trace_target(TargetConfig.from_dict(job["config"]), int(job["until"]),
                     int(job["keep_from"]), out_dir / str(index))  # fmt: skip


def main(argv: list[str]) -> int:
    return worker_main("linreg.suites.target_replay_worker", "JOBS_JSON OUT_DIR", argv, (2,),
                       lambda args: replay_all(Path(args[0]), Path(args[1])))  # fmt: skip


if __name__ == "__main__":
    from linreg.process_exit import exit_process

    exit_process(main(sys.argv[1:]))
