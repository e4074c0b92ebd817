"""`linreg repro`: the reproducibility matrix and its checks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from linreg.cli import app
from linreg.cli.console import console
from linreg.compare import DEFAULT_OUTCOME_STEPS
from linreg.config import DTYPES, ENGINES, TrainConfig
from linreg.errors import ConfigError
from linreg.numerics import available_devices
from linreg.options import parse_choices, parse_integers, split_items
from linreg.repro import (
    DEFAULT_REFERENCE_DIR,
    DEFAULT_REPRO_ROOT,
    DEFAULT_REQUIREMENTS,
    ReproMatrix,
    parse_requirements,
    repro,
)
from linreg.tolerance import load_tolerances

_DEFAULT = TrainConfig()


def _threads(text: str) -> tuple[int | None, ...]:
    out: list[int | None] = []
    for s in split_items("threads", text):
        if s == "all":
            out.append(None)
        elif s.isdigit() and int(s) >= 1:
            out.append(int(s))
        else:
            raise ConfigError("threads", f"expected integers >= 1 or 'all', got {s!r}")
    return tuple(out)


@app.command("repro")
def repro_command(
    devices: str = typer.Option(
        ",".join(available_devices()), help="Comma-separated devices (default: those present)."
    ),
    dtypes: str = typer.Option("float32,float64", help="Comma-separated dtypes."),
    seeds: str = typer.Option("0,1,42", help="Comma-separated seeds."),
    threads: str = typer.Option("1,all", help="Comma-separated thread counts; 'all' = default."),
    engines: str = typer.Option("eager", help="Comma-separated engines, each checked vs eager."),
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
        DEFAULT_OUTCOME_STEPS, help="Outcome bound, in SGD steps (level c)."
    ),
    out: Path = typer.Option(DEFAULT_REPRO_ROOT, help="Folder that gets a new <id>/ result set."),
    resume: Path | None = typer.Option(
        None, help="Finish an interrupted run: its results/repro/<id>/ folder."
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
    base = _DEFAULT.replace(lr=lr, epochs=epochs, samples=samples)
    matrix = ReproMatrix(
        devices=tuple(split_items("devices", devices)),
        dtypes=parse_choices("dtypes", dtypes, DTYPES, ()),
        seeds=parse_integers("seeds", seeds, 0),
        threads=_threads(threads),
        engines=parse_choices("engines", engines, ENGINES, ()),
        base=base,
    )
    matrix.configs()  # building each config validates every axis before any training
    tolerances = load_tolerances(pyproject).with_overrides(rtol=rtol, atol=atol)
    requirements = parse_requirements(require)
    with Progress(
        TextColumn("repro"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("runs", total=None)
        report = repro(
            matrix,
            results_root=out,
            resume=resume,
            tolerances=tolerances,
            requirements=requirements,
            reference_dir=reference_dir if golden or update_reference else None,
            update_reference=update_reference,
            outcome_steps=outcome_steps,
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
    if golden and not update_reference:
        checked, runs = report.golden_coverage
        console.print(f"golden references: {checked} of {runs} runs have one in {reference_dir}",
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
