"""One process of a repro run: trains a list of configs and writes each Run as it finishes.

`python -m linreg.repro_worker CONFIGS_JSON OUT_DIR` — one process trains many configs, so a
matrix costs two interpreter start-ups (one per copy), not two per config. A config whose file
exists already is skipped: that is what makes an interrupted repro run resumable.
"""

from __future__ import annotations

import sys
from pathlib import Path

from linreg.config import TrainConfig
from linreg.engines import train
from linreg.errors import LinregError
from linreg.resultset import REPRO_KIND
from linreg.store import read_json, write_json_new


def run_file(out_dir: Path, config: TrainConfig) -> Path:
    return out_dir / f"{config.config_id}.json"


def train_all(configs: list[TrainConfig], out_dir: Path) -> None:
    for config in configs:
        target = run_file(out_dir, config)
        if target.exists():
            continue
        run = train(config)
        record = run.to_dict()
        record["kind"] = REPRO_KIND
        record["requested_config_id"] = config.config_id
        write_json_new(target, record)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m linreg.repro_worker CONFIGS_JSON OUT_DIR", file=sys.stderr)
        return 2
    try:
        configs = [TrainConfig.from_dict(c) for c in read_json(argv[0])["configs"]]
        train_all(configs, Path(argv[1]))
    except LinregError as exc:
        print(f"linreg.repro_worker: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130  # Ctrl-C reaches the whole process group; the parent reports it once
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
