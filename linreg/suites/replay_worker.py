"""One side of a replay: traces a list of configs, each to its epoch, in one process.

`python -m linreg.suites.replay_worker JOBS_JSON OUT_DIR` writes OUT_DIR/<index>.pt for each job
(``linreg.engines.trace.Trace``, through torch.save): scratch files of the parent's, read back
with ``weights_only=True`` and removed with their temporary folder, never results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from linreg.config import TrainConfig
from linreg.engines.trace import trace
from linreg.suites.worker import worker_main


def replay_all(jobs_path: Path, out_dir: Path) -> None:
    jobs = json.loads(jobs_path.read_text(encoding="utf-8"))
    for index, job in enumerate(jobs):
        traced = trace(TrainConfig.from_dict(job["config"]), int(job["until"]),
                       int(job["keep_elements"]))  # fmt: skip
        partial = out_dir / f".{index}.pt.partial"
        torch.save(traced.to_dict(), partial)
        partial.rename(out_dir / f"{index}.pt")


def main(argv: list[str]) -> int:
    return worker_main("linreg.suites.replay_worker", "JOBS_JSON OUT_DIR", argv, (2,),
                       lambda args: replay_all(Path(args[0]), Path(args[1])))  # fmt: skip


if __name__ == "__main__":
    from linreg.process_exit import exit_process

    exit_process(main(sys.argv[1:]))
