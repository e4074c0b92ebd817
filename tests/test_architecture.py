"""The core never imports the layers above it: CLI, report, jobs, repro, sweeps, bench,
plotly, typer, rich or pandas."""

import subprocess
import sys

CORE = [
    "linreg.config", "linreg.data", "linreg.model", "linreg.engines", "linreg.engines.eager",
    "linreg.engines.compiled", "linreg.engines.batched", "linreg.engines.records",
    "linreg.checkpoint", "linreg.env", "linreg.state", "linreg.run", "linreg.numerics",
    "linreg.store", "linreg.options", "linreg.machine", "linreg.paths", "linreg.errors",
]  # fmt: skip
FORBIDDEN = [
    "linreg.cli", "linreg.report", "linreg.jobs", "linreg.main_job", "linreg.repro",
    "linreg.sweep", "linreg.bench_runner", "linreg.bench_results", "plotly", "typer", "rich",
    "pandas", "bench",
]  # fmt: skip


def test_core_imports_nothing_above_it():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "from linreg.engines import train\nfrom linreg.config import TrainConfig\n"
        + "train(TrainConfig(epochs=2))\n"
        + f"print(','.join(m for m in {FORBIDDEN!r} if any(k == m or k.startswith(m + '.') "
        "for k in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
