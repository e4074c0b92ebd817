"""`linreg gpu-run`: everything a GPU machine should record, in one time-boxed command."""

from __future__ import annotations

from pathlib import Path

import typer

from linreg.cli import app, fail
from linreg.cli.console import progress, say
from linreg.paths import results_root
from linreg.results.job_steps import SKIPPED


@app.command("gpu-run")
def gpu_run_command(
    out: Path | None = typer.Option(
        None,
        help="Folder for everything the run writes (must not exist or be empty). "
        "Default: results/gpu-run-<UTC time>/.",
    ),
    bring_back: Path | None = typer.Option(
        None,
        help="Where the files to carry home go: the archive, summary.json and summary.md "
        "(must not exist or be empty; default OUT/bring-back). On a GPU machine whose files "
        "come back from one folder, that folder.",
    ),
    budget_seconds: float = typer.Option(
        450,
        help="Time for the whole run; a step whose budget exceeds what is left is skipped "
        "with a message, and each is stopped at its own budget.",
    ),
    wheelhouse: Path | None = typer.Option(
        None,
        help="A folder of wheels (nox -s wheelhouse) to install from, with no index, what "
        "this Python lacks (the report's plotly), for this run only.",
    ),
    machine: str | None = typer.Option(
        None, help="Machine name for the benchmark folder (default: from CPU and GPU models)."
    ),
    target: str | None = typer.Option(
        None,
        "--target",
        help="A target's cases instead of the tutorial's (FILE.py:NAME, package.module:NAME or "
        "a bundled name): its target_step and target_inference cases on cuda and the CPU, "
        "eager and compiled, and its repro matrix on cuda against cpu; without CUDA, the CPU "
        "part as a rehearsal and the CUDA part skipped with the reason.",
    ),
) -> int:
    """Run the CUDA tests, the benchmark matrix on cuda and the CPU cases for ratios, the repro
    matrix on cuda against cpu (TF32 off/on, deterministic on/off), the report, a summary and
    one archive to bring back. Without CUDA it is a rehearsal: CUDA steps are skipped with the
    reason. Exit 0 ok, 1 a step failed or ran out of its time, 2 bad input."""
    from linreg.jobs.gpu_run import run_gpu_job  # imports torch
    from linreg.results.kinds import utc_stamp

    out = out or results_root() / f"gpu-run-{utc_stamp()}"

    def on_step(index: int, total: int, step, left: float) -> None:
        progress(
            f"[{index + 1}/{total}] {step.name}: {step.description} "
            f"(budget {step.budget_seconds:.0f} s, {max(left, 0):.0f} s left)"
        )

    def on_done(result) -> None:
        progress(f"    {result.status} in {result.seconds:.1f} s: {result.detail}")

    result = run_gpu_job(
        out,
        bring_back=bring_back,
        budget_seconds=budget_seconds,
        wheelhouse=wheelhouse,
        machine=machine,
        on_step=on_step,
        on_done=on_done,
        target=target,
    )
    skipped = [s for s in result.steps if s.status == SKIPPED]
    counts = f"{len(result.steps) - len(skipped)} steps ran, {len(skipped)} skipped"
    if skipped:
        counts += f" ({', '.join(s.name for s in skipped)})"
    files = ", ".join(p.name for p in result.files)
    if not result.ok:
        bad = [f"{s.name} {s.status}" for s in result.steps if not s.ok]
        fail(f"gpu-run: FAIL in {result.seconds:.0f} s: {'; '.join(bad)}; {counts}")
        say(f"bring back {result.bring_back}: {files}")
        return 1
    say(f"gpu-run: OK in {result.seconds:.0f} s: {counts}; bring back {result.bring_back}: {files}")
    return 0
