"""The resume check's finish: each checkpointed run of a repro set, finished in a fresh process.

The second copy's worker (``linreg.suites.repro_worker --finish-resumes RESUME_DIR``) calls
``resume_all`` before it trains anything: for each config of the folder's list it waits for the
first copy's worker to write its checkpoint, loads it, records the state it restored (before the
first epoch it trains), trains the epochs that remain and writes the finished run with that
record. A config whose record exists is skipped, as the copy workers skip theirs, so an
interrupted repro run resumes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from linreg.engines.resumable import prepare_resumable
from linreg.results import kinds
from linreg.results.files import write_json_new
from linreg.results.run_folder import run_record
from linreg.results.training_checkpoint import load_training_checkpoint
from linreg.suites.repro_resume import (
    RESUME_LIST,
    checkpoint_file,
    read_config_list,
    resumed_file,
    wait_for_point,
)
from linreg.training_state import TrainingState, pieces

# Test-only: a piece of state this process leaves out of what it restores, so that the tests can
# show the check naming it (see tests/test_resume_check.py). Never set outside those tests.
LEAVE_OUT_VARIABLE = "LINREG_TEST_RESUME_LEAVES_OUT"


def resume_all(resume_dir: Path) -> None:
    for config in read_config_list(resume_dir / RESUME_LIST):
        target = resumed_file(resume_dir, config)
        if target.exists():
            continue
        wait_for_point(resume_dir, config)
        state = load_training_checkpoint(checkpoint_file(resume_dir, config))
        state = _left_out(state, os.environ.get(LEAVE_OUT_VARIABLE, ""))
        prepared = prepare_resumable(state.config, resume_from=state)
        restored = pieces(prepared.training_state())
        prepared.loop()
        record = run_record(prepared.finish(), kinds.REPRO_RESUMED)
        record["restored"] = list(restored.items())  # in order: the first that differs is named
        record["requested_config_id"] = config.config_id
        write_json_new(target, record)


def _left_out(state: TrainingState, piece: str) -> TrainingState:
    """``state`` less ``piece``: "momentum_buffer" drops SGD's buffers, "adam_step" sets Adam's
    step counts back to 0; "" leaves it whole."""
    if not piece:
        return state
    per_parameter = state.optimizer["state"]
    if piece == "momentum_buffer":
        kept = {i: {k: v for k, v in s.items() if k != "momentum_buffer"}
                for i, s in per_parameter.items()}  # fmt: skip
    elif piece == "adam_step":
        kept = {i: {**s, "step": s["step"] * 0} if "step" in s else s
                for i, s in per_parameter.items()}  # fmt: skip
    else:
        raise ValueError(f"{LEAVE_OUT_VARIABLE}={piece!r}: expected momentum_buffer or adam_step")
    # An SGD parameter whose only state was its buffer has no state at all (as before a step).
    kept = {i: s for i, s in kept.items() if s}
    return dataclasses.replace(state, optimizer={**state.optimizer, "state": kept})
