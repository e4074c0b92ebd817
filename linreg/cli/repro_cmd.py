"""`linreg repro`: the reproducibility matrix and its checks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from linreg.cli import app, option_name
from linreg.cli.console import console
from linreg.compare.runs import DEFAULT_OUTCOME_STEPS
from linreg.config import DTYPES, ENGINES, TrainConfig
from linreg.errors import ConfigError
from linreg.options import (
    parse_choices,
    parse_integers,
    parse_switches,
    parse_threads,
    split_items,
)
from linreg.suites.repro_options import (
    DEFAULT_REFERENCE_DIR,
    DEFAULT_REPRO_ROOT,
    DEFAULT_REQUIREMENTS,
    ReproMatrix,
    ReproOptions,
    parse_requirements,
)
from linreg.tolerance import load_tolerances

_DEFAULT = TrainConfig()


@app.command("repro")
def repro_command(
    ctx: typer.Context,
    devices: str | None = typer.Option(
        None, help="Comma-separated devices: cpu, cuda, mps (default: those present)."
    ),
    dtypes: str = typer.Option("float32,float64", help="Comma-separated dtypes."),
    seeds: str = typer.Option("0,1,42", help="Seeds: a comma list and/or start:stop ranges."),
    threads: str = typer.Option("1,all", help="Comma-separated thread counts; 'all' = default."),
    engines: str = typer.Option("eager", help="Comma-separated engines, each checked vs eager."),
    tf32: str = typer.Option(
        "off",
        help="TF32 in CUDA float32 matmuls: off, on, or off,on (each TF32 run is checked "
        "against its TF32-off twin).",
    ),
    deterministic: str = typer.Option(
        "on",
        help="torch.use_deterministic_algorithms (with CUBLAS_WORKSPACE_CONFIG): on, off, or "
        "on,off (each nondeterministic run is checked against its deterministic twin).",
    ),
    lr: float = typer.Option(_DEFAULT.lr, help="Learning rate of every run."),
    epochs: int = typer.Option(_DEFAULT.epochs, help="Epochs of every run."),
    samples: int | None = typer.Option(None, help="Evenly spaced samples instead of --step."),
    rtol: float | None = typer.Option(None, help="Override rtol for every dtype."),
    atol: float | None = typer.Option(None, help="Override atol for every dtype."),
    require: list[str] = typer.Option(
        [],
        help="PAIR=LEVEL, repeatable; pairs and defaults: "
        + ", ".join(f"{k}={v}" for k, v in DEFAULT_REQUIREMENTS.items())
        + " (levels a, b, b-horizon, c, d).",
    ),
    outcome_steps: int = typer.Option(
        DEFAULT_OUTCOME_STEPS, help="Outcome bound, in SGD steps (level c), >= 0."
    ),
    out: Path = typer.Option(DEFAULT_REPRO_ROOT, help="Folder that gets a new <id>/ result set."),
    resume: Path | None = typer.Option(
        None,
        help="Finish an interrupted run: its results/repro/<id>/ folder. It keeps the options "
        "it was started with (no other option may be given).",
    ),
    reference_dir: Path = typer.Option(DEFAULT_REFERENCE_DIR, help="Golden references."),
    golden: bool = typer.Option(
        True, "--golden/--no-golden", help="Check against the golden references."
    ),
    update_reference: bool = typer.Option(
        False, "--update-reference", help="Write these runs as the golden references."
    ),
    pyproject: Path = typer.Option(
        Path("pyproject.toml"), help="Tolerances under [tool.linreg] (Python >= 3.11)."
    ),
) -> int:
    """Train the matrix twice in separate processes; check determinism, consistency against
    float64 CPU, golden references and checkpoints. Exit 1 when any check fails."""
    if resume is not None:
        given = [
            option_name(name)
            for name in ctx.params
            if name not in ("resume", "out")
            and getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
        ]
        if given:
            raise ConfigError(
                "resume", f"keeps the options of the run it finishes; drop {', '.join(given)}"
            )
        options = None
    else:
        from linreg.numerics import available_devices

        matrix = ReproMatrix(
            devices=tuple(split_items("devices", devices) if devices else available_devices()),
            dtypes=parse_choices("dtypes", dtypes, DTYPES, ()),
            seeds=parse_integers("seeds", seeds, 0),
            threads=parse_threads("threads", threads),
            engines=parse_choices("engines", engines, ENGINES, ()),
            tf32=parse_switches("tf32", tf32),
            deterministic=parse_switches("deterministic", deterministic),
            base=_DEFAULT.replace(lr=lr, epochs=epochs, samples=samples),
        )
        options = ReproOptions(
            matrix=matrix,
            tolerances=load_tolerances(pyproject).with_overrides(rtol=rtol, atol=atol),
            requirements=parse_requirements(require),
            reference_dir=reference_dir if golden or update_reference else None,
            update_reference=update_reference,
            outcome_steps=outcome_steps,
        )
    from linreg.suites.repro import repro  # imports torch

    with Progress(
        TextColumn("repro"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("runs", total=None)
        report = repro(
            options,
            results_root=out,
            resume=resume,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            on_start=lambda folder: console.print(
                f"result set {folder} (if interrupted: linreg repro --resume {folder})",
                soft_wrap=True,
            ),
        )
    table = Table(title="linreg repro")
    for column in ("check", "run", "against", "required", "level", "horizon", "result"):
        table.add_column(column, overflow="fold")
    for c in report.checks:
        level = horizon = ""
        if c.comparison is not None:
            level = c.comparison.level
            horizon = "never" if c.comparison.horizon is None else str(c.comparison.horizon)
        table.add_row(
            f"{c.kind} ({c.pair})" if c.kind == "consistency" else c.kind,
            c.subject, Path(c.against).name if c.kind == "golden" else c.against,
            c.required, level, horizon, "[green]holds[/]" if c.holds else "[red]FAILS[/]",
        )  # fmt: skip
    console.print(table)
    for change in report.reference_changes:
        console.print(f"reference {change.name}: {change.status} ({change.detail})", soft_wrap=True)
    used = report.options
    if used.golden_dir is not None:
        checked, runs = report.golden_coverage
        console.print(f"golden references: {checked} of {runs} runs have one in {used.golden_dir}",
                      soft_wrap=True)  # fmt: skip
    failures = report.failures
    console.print(
        f"{len(report.checks) - len(failures)} of {len(report.checks)} checks hold "
        f"in {report.seconds:.1f} s; results: {report.result_dir}",
        soft_wrap=True,
    )
    for c in failures:
        console.print(f"[red]FAIL[/] {c.kind}: {c.subject} vs {c.against}: {c.reason}",
                      soft_wrap=True)  # fmt: skip
    return 0 if report.ok else 1
