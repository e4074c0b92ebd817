"""Golden references: one run record per config, committed under results/reference/.

A reference carries its config and is matched on it: a run whose lr, data or epochs differ from
every reference has none (and is reported as unchecked), rather than failing against a
reference made for another question. Configs with the tutorial's data and training parameters
get readable names (``cpu-float32-seed42-threads1-eager.json``); any other config's name adds a
hash of the config, so that references for two configs never share a file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from linreg.config import TrainConfig
from linreg.errors import ResultSetError
from linreg.results import kinds
from linreg.results.files import write_json_replace
from linreg.results.load import load_run
from linreg.run import Run

# Axes that the readable name spells out; every other field must equal the tutorial's default.
_NAMED_AXES = ("device", "dtype", "seed", "threads", "engine")


def matching_config(config: TrainConfig) -> dict:
    """What a reference must share with a run: the whole config, the device as its kind only
    (cuda:1 meets a cuda reference)."""
    data = config.to_dict()
    data["device"] = config.device.split(":")[0]
    return data


def reference_name(config: TrainConfig) -> str:
    c = config
    name = f"{c.device.split(':')[0]}-{c.dtype}-seed{c.seed}-threads{c.threads or 'all'}-{c.engine}"
    default = TrainConfig().to_dict()
    rest = {k: v for k, v in matching_config(config).items() if k not in _NAMED_AXES}
    if any(default[k] != v for k, v in rest.items()):
        digest = hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:8]
        name += f"-cfg{digest}"
    return f"{name}.json"


def reference_path(reference_dir: Path, config: TrainConfig) -> Path:
    return reference_dir / reference_name(config)


def find_reference(reference_dir: Path, config: TrainConfig) -> Run | None:
    """The golden reference of ``config``, or None where there is none for exactly this config."""
    path = reference_path(reference_dir, config)
    if not path.exists():
        return None
    reference = load_run(path)
    if matching_config(reference.config) != matching_config(config):
        raise ResultSetError(
            f"{path}: holds a reference for another config; rewrite it with "
            "linreg repro --update-reference"
        )
    return reference


def reference_record(run: Run) -> dict:
    """A run record without torch's build text (long, and in the environment diff anyway)."""
    record = kinds.envelope(kinds.RUN, run.to_dict())
    record["environment"] = {k: v for k, v in run.environment.items() if k != "torch_config"}
    return record


def write_reference(reference_dir: Path, run: Run) -> Path:
    """The one place a result is replaced: a golden reference, on a user's explicit request."""
    return write_json_replace(reference_path(reference_dir, run.config), reference_record(run))
