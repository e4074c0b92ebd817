"""Where the checkout's own files are: golden references and the bench suite live beside the
package, so they are found from any working folder."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = PROJECT_ROOT / "results" / "reference"
BENCH_DIR = PROJECT_ROOT / "bench"
# User runs of the bench suite (ignored by git), and the committed per-machine baselines that a
# run becomes only on request (linreg bench --baseline).
BENCH_RESULTS = PROJECT_ROOT / "results" / "bench"
BASELINES = PROJECT_ROOT / "results" / "baselines"
# Committed instruction-count baselines, one folder per stack key (linreg.stack): they gate on
# any machine of that stack (linreg run), where the per-machine ones above gate on one machine.
INSTRUCTION_BASELINES = BASELINES / "instructions"
