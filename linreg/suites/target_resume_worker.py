"""The target resume check's finish: each checkpointed run of a repro set, finished in a fresh
process.

The second copy's worker (``linreg.suites.target_repro_worker --finish-resumes RESUME_DIR``)
calls ``resume_all`` before it trains anything: for each config of the folder's list it waits
for the first copy's worker to write its checkpoint, loads it, records the state it restored
(before the first step it trains), trains the steps that remain and writes the finished run with
that record. A config whose record exists is skipped, so an interrupted set resumes.
"""

from __future__ import annotations

from pathlib import Path

from linreg.engines.target_loop import prepare_target
from linreg.results import kinds
from linreg.results.files import write_json_new
from linreg.results.target_checkpoint import load_target_checkpoint
from linreg.results.target_run_folder import target_run_record
from linreg.suites.repro_resume import RESUME_LIST, checkpoint_file, resumed_file, wait_for_point
from linreg.suites.target_repro_resume import read_config_list


def resume_all(resume_dir: Path) -> None:
    for config in read_config_list(resume_dir / RESUME_LIST):
        target = resumed_file(resume_dir, config)
        if target.exists():
            continue
        wait_for_point(resume_dir, config)
        state = load_target_checkpoint(checkpoint_file(resume_dir, config))
        prepared = prepare_target(state.config, resume_from=state)
        restored = prepared.pieces()
        prepared.loop()
        record = {**target_run_record(prepared.finish()), "kind": kinds.TARGET_RESUMED,
                  "schema_version": kinds.SCHEMA_VERSIONS[kinds.TARGET_RESUMED]}  # fmt: skip
        record["restored"] = list(restored.items())  # in order: the first that differs is named
        record["requested_config_id"] = config.config_id
        write_json_new(target, record)
