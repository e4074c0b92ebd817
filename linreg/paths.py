"""Where files are. What a command makes goes under one results root: the working folder's
results/, unless LINREG_RESULTS (or `linreg --results DIR`) names another, whatever command
writes it, so a results tree travels whole between machines. What the project ships — golden
references, committed baselines, the bench suite — is found in the checkout that holds the
package, from any working folder, and otherwise inside the installed package, where a wheel
carries them laid out as in the checkout (pyproject.toml's package-dir: linreg/_bundled/)."""

import os
from pathlib import Path

RESULTS_VARIABLE = "LINREG_RESULTS"


def results_root() -> Path:
    """The folder every command writes under (relative to the working folder unless set)."""
    return Path(os.environ.get(RESULTS_VARIABLE) or "results")


PACKAGE_DIR = Path(__file__).resolve().parent
# A checkout (an editable install is one too) holds the bench suite and pyproject.toml beside
# the package; an installed wheel has site-packages there instead, and its own copy in _bundled/.
CHECKOUT = all(
    (PACKAGE_DIR.parent / name).is_file() for name in ("pyproject.toml", "bench/conftest.py")
)
# Where bench/ and results/{reference,baselines} are: the checkout, or the wheel's copy.
PROJECT_ROOT = PACKAGE_DIR.parent if CHECKOUT else PACKAGE_DIR / "_bundled"
REFERENCE_DIR = PROJECT_ROOT / "results" / "reference"
BENCH_DIR = PROJECT_ROOT / "bench"
# The committed per-machine baselines that a run becomes only on request (linreg bench
# --baseline, in a checkout); a user's bench runs go under the results root
# (results_root() / "bench").
BASELINES = PROJECT_ROOT / "results" / "baselines"
# Committed instruction-count baselines, one folder per stack key (linreg.stack): they gate on
# any machine of that stack (linreg run), where the per-machine ones above gate on one machine.
INSTRUCTION_BASELINES = BASELINES / "instructions"


def target_baselines_root() -> Path:
    """Where a target's baselines are kept: in a checkout, results/baselines/targets/ beside
    the tutorial's, to be committed; installed, under the results root, because a user's model
    and its baselines are the user's and the installed package is no place for records."""
    return BASELINES / "targets" if CHECKOUT else results_root() / "baselines" / "targets"
