"""`linreg repro`: the reproducibility matrix and its checks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from linreg import paths
from linreg.cli import app, fail
from linreg.cli.console import console, say
from linreg.cli.progress import tracked
from linreg.compare.runs import DEFAULT_OUTCOME_STEPS, REQUIREMENT_MEANINGS
from linreg.config import DTYPES, ENGINES, OPTIMIZERS, TrainConfig
from linreg.errors import ConfigError, LinregError
from linreg.options import (
    parse_choices,
    parse_fractions,
    parse_integers,
    parse_switches,
    parse_threads,
    split_items,
)
from linreg.paths import REFERENCE_DIR
from linreg.results.run_comparison import LEVEL_NAMES
from linreg.suites.repro_options import (
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
    target: str | None = typer.Option(
        None,
        metavar="SPEC",
        help="A target to check instead of the tutorial: FILE.py:NAME, package.module:NAME, or "
        "one shipped with linreg (mlp, cnn, chargpt). Its matrix is --devices, --dtypes, "
        "--seeds, --threads and --engines at --size; each config trained twice (bit-identical, "
        "else nondeterministic, naming the first differing quantity and step), each run judged "
        "against the float64 CPU eager run per quantity (a dtype's CPU one-thread eager run "
        "within its tolerance by RMS error; any other run no further from float64 than the "
        "target's fp64_multiplier times that twin's error, plus the tolerance), and each seed's "
        "first run stopped half-way and resumed in a fresh process. The tutorial's options "
        "(--lr, --epochs, --require, golden references, ...) are the tutorial's only.",
    ),
    size: str | None = typer.Option(
        None, help="A target's size (default ci: the matrix trains every config twice)."
    ),
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
        help="torch's deterministic algorithms (and CUBLAS_WORKSPACE_CONFIG set): on, off, or "
        "on,off (each nondeterministic run is checked against its deterministic twin).",
    ),
    optimizers: str = typer.Option(
        "sgd",
        help=f"Comma-separated optimizers ({', '.join(OPTIMIZERS)}); each setting has its own "
        "float64 reference, and runs of two settings are never compared. Not sgd: eager only "
        "(other engines are skipped, with the reason).",
    ),
    momentums: str = typer.Option(
        "0",
        help="Comma-separated SGD momentums in [0, 1), e.g. 0,0.9; adam runs once, without.",
    ),
    lr: float = typer.Option(_DEFAULT.lr, help="Learning rate of every run."),
    epochs: int = typer.Option(_DEFAULT.epochs, help="Epochs of every run."),
    samples: int | None = typer.Option(None, help="Evenly spaced samples instead of --step."),
    rtol: float | None = typer.Option(None, help="Override rtol for every dtype."),
    atol: float | None = typer.Option(None, help="Override atol for every dtype."),
    require: list[str] = typer.Option(
        [],
        help="PAIR=LEVEL, repeatable: the least level a kind of pair must reach. Levels: "
        + "; ".join(f"{k} {v}" for k, v in REQUIREMENT_MEANINGS.items())
        + ". Pairs and their defaults: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_REQUIREMENTS.items())
        + ".",
    ),
    outcome_steps: int = typer.Option(
        DEFAULT_OUTCOME_STEPS, help="Outcome bound, in SGD steps (level c), >= 0."
    ),
    out: Path | None = typer.Option(
        None,
        help="Folder that gets a new <id>/ result set (default: the results root's repro/).",
    ),
    resume: Path | None = typer.Option(
        None,
        help="Finish an interrupted run: its results/repro/<id>/ folder. It keeps the options "
        "it was started with; an option given again must be as it was.",
    ),
    reference_dir: Path = typer.Option(
        REFERENCE_DIR,
        help="Golden references (default: the checkout's results/reference/, or the installed "
        "package's copy).",
        show_default=False,
    ),
    golden: bool = typer.Option(
        True, "--golden/--no-golden", help="Check against the golden references."
    ),
    update_reference: bool = typer.Option(
        False, "--update-reference", help="Write these runs as the golden references."
    ),
    pyproject: Path = typer.Option(
        Path("pyproject.toml"), help=r"Tolerances under \[tool.linreg] (Python >= 3.11)."
    ),
    wide: bool = typer.Option(False, "--wide", help="List every check, not one row per kind."),
) -> int:
    """Train the matrix twice in separate processes; check determinism, consistency against
    float64 CPU, golden references, checkpoints, and runs stopped half-way and resumed in a
    fresh process (with --target, a target's matrix). Exit 1 when any check fails."""
    from linreg.target_loading import is_tutorial

    resuming_target = resume is not None and _is_target_set(resume)
    if not is_tutorial(target) or resuming_target:
        from linreg.cli.repro_target import target_repro_command

        given_here = [
            name
            for name in ctx.params
            if name not in ("resume", "out", "wide")
            and getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
        ]
        axes = {"devices": devices, "dtypes": dtypes, "seeds": seeds, "threads": threads,
                "engines": engines}  # fmt: skip
        return target_repro_command(None if is_tutorial(target) else target, size, axes,
                                    (rtol, atol), pyproject, out, resume, given_here,
                                    wide)  # fmt: skip
    if size is not None:
        raise ConfigError("size", "is a target's (--target SPEC); the tutorial trains --epochs")
    if update_reference and not paths.CHECKOUT and reference_dir == REFERENCE_DIR:
        # The installed package's copy came with the wheel: a reinstall would drop new ones unseen.
        why = "writes a checkout's golden references; this linreg is installed, not a checkout"
        raise ConfigError("update-reference", f"{why} (give --reference-dir DIR)")
    # Resuming, the options given again (a command line repeated with --resume) are checked
    # against those the run was started with; the others are the run's own.
    given = [
        name
        for name in ctx.params
        if resume is not None
        and name not in ("resume", "out", "wide")
        and getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
    ]
    options = None
    if resume is None or given:
        from linreg.numerics import available_devices

        matrix = ReproMatrix(
            devices=tuple(split_items("devices", devices) if devices else available_devices()),
            dtypes=parse_choices("dtypes", dtypes, DTYPES, ()),
            seeds=parse_integers("seeds", seeds, 0),
            threads=parse_threads("threads", threads),
            engines=parse_choices("engines", engines, ENGINES, ()),
            tf32=parse_switches("tf32", tf32),
            deterministic=parse_switches("deterministic", deterministic),
            optimizers=parse_choices("optimizers", optimizers, OPTIMIZERS, ()),
            momentums=parse_fractions("momentums", momentums),
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
    from linreg.suites.repro import repro, resume_repro  # imports torch

    def on_start(folder: Path) -> None:
        say(f"result set {folder} (if interrupted: linreg repro --resume {folder})")

    with tracked("repro: runs") as tracker:
        if resume is not None:
            report = resume_repro(resume, options, given, tracker.update, on_start)
        else:
            assert options is not None  # built above whenever there is nothing to resume
            report = repro(options, out, tracker.update, on_start)
    console.print(_full_table(report.checks) if wide else _summary_table(report.checks))
    _print_explanations(report.checks)
    for change in report.reference_changes:
        say(f"reference {change.name}: {change.status} ({change.detail})")
    used = report.options
    if used.golden_dir is not None:
        checked, runs = report.golden_coverage
        say(f"golden references: {checked} of {runs} runs have one in {used.golden_dir}")
    for subject, reason in report.skipped:
        say(f"skipped: {subject}: {reason}")
    say(f"results: {report.result_dir} ({report.seconds:.1f} s)")
    failures = report.failures
    for c in failures:
        say(f"FAIL {c.kind} ({c.pair}): {c.subject} vs {_against(c)}: {c.reason}")
    held = f"{len(report.checks) - len(failures)} of {len(report.checks)} checks hold"
    if failures:
        fail(f"repro: FAIL: {held}; {len(failures)} fail{'s' if len(failures) == 1 else ''}")
        return 1
    say(f"repro: OK: {held}")
    return 0


def _is_target_set(folder: Path) -> bool:
    from linreg.results import kinds
    from linreg.results.files import read_json

    manifest = folder / kinds.REPRO_MANIFEST_FILE
    try:
        return manifest.is_file() and kinds.kind_of(read_json(manifest)) == (
            kinds.TARGET_REPRO_MANIFEST
        )
    except LinregError:
        return False


def _print_explanations(checks) -> None:
    """Why each pair that is not bit-identical parts, each reason once with the pairs it
    explains (threads 1 and all of one seed part alike from float64)."""
    reasons: dict[str, list[str]] = {}
    for c in checks:
        if c.explanation:
            pair = f"{c.subject} vs {_against(c)}"
            reasons.setdefault(c.explanation.line, []).append(pair)
    if not reasons:
        return
    say("where pairs that are not bit-identical part (both replayed, one process a side):")
    for line, pairs in reasons.items():
        more = f" (and {len(pairs) - 1} more)" if len(pairs) > 1 else ""
        say(_wrapped(f"{pairs[0]}{more}: {line}"))


def _wrapped(text: str) -> str:
    import textwrap

    return textwrap.fill(text, width=max(console.width, 40), initial_indent="  ",
                         subsequent_indent="    ", break_on_hyphens=False)  # fmt: skip


def _against(check) -> str:
    return Path(check.against).name if check.kind == "golden" else check.against


def _summary_table(checks) -> Table:
    """One row per kind of check and pair: what fits 80 columns whatever the matrix's size."""
    groups: dict[tuple[str, str], list] = {}
    for c in checks:
        groups.setdefault((c.kind, c.pair if c.kind == "consistency" else ""), []).append(c)
    table = Table(title="linreg repro: checks by kind and pair (--wide lists each)")
    for column in ("check", "pair", "required", "hold", "levels reached"):
        table.add_column(column)
    for (kind, pair), group in groups.items():
        held = sum(c.holds for c in group)
        levels = sorted({c.comparison.level for c in group if c.comparison is not None})
        style = "" if held == len(group) else "red"
        table.add_row(
            kind, pair, group[0].required, Text(f"{held} of {len(group)}", style=style),
            ", ".join(f"{lv} ({LEVEL_NAMES[lv]})" for lv in levels),
        )  # fmt: skip
    return table


def _full_table(checks) -> Table:
    table = Table(title="linreg repro: every check")
    for column in ("check", "run", "against", "required", "level", "horizon", "result"):
        table.add_column(column, overflow="fold")
    for c in checks:
        level = horizon = ""
        if c.comparison is not None:
            level = c.comparison.level
            horizon = "never" if c.comparison.horizon is None else str(c.comparison.horizon)
        table.add_row(
            f"{c.kind} ({c.pair})" if c.kind == "consistency" else c.kind,
            Text(c.subject), Text(_against(c)), c.required, level, horizon,
            Text("holds", style="green") if c.holds else Text("FAILS", style="red"),
        )  # fmt: skip
    return table
