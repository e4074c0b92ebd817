"""Where files are. What a command makes goes under one results root: the working folder's
results/, unless LINREG_RESULTS (or `linreg --results DIR`) names another, whatever command
writes it, so a results tree travels whole between machines. What the checkout holds — golden
references, committed baselines, the bench suite — is found beside the package, from any
working folder."""

import os
from pathlib import Path

RESULTS_VARIABLE = "LINREG_RESULTS"


def results_root() -> Path:
    """The folder every command writes under (relative to the working folder unless set)."""
    return Path(os.environ.get(RESULTS_VARIABLE) or "results")


PROJECT_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = PROJECT_ROOT / "results" / "reference"
BENCH_DIR = PROJECT_ROOT / "bench"
# The committed per-machine baselines that a run becomes only on request (linreg bench
# --baseline); a user's bench runs go under the results root (results_root() / "bench").
BASELINES = PROJECT_ROOT / "results" / "baselines"
# Committed instruction-count baselines, one folder per stack key (linreg.stack): they gate on
# any machine of that stack (linreg run), where the per-machine ones above gate on one machine.
INSTRUCTION_BASELINES = BASELINES / "instructions"
