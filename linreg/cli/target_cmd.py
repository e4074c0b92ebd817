"""`linreg target new NAME` and `linreg target check SPEC`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from linreg.cli import app, fail
from linreg.cli.console import console, say
from linreg.errors import OutputError

target_app = typer.Typer(
    help="Write a starting target, or check what a target supports.",
    no_args_is_help=True,
)
app.add_typer(target_app, name="target")


@target_app.command("new")
def new_command(
    name: str = typer.Argument(
        ...,
        help="The target's name: writes NAME.py (or NAME if it ends in .py) in the working folder.",
    ),
) -> None:
    """Write a commented starting target (a working one, to change into yours); refuses a file
    that exists."""
    from linreg.results.files import write_file
    from linreg.target_template import class_name, starting_target

    path = Path(name if name.endswith(".py") else f"{name}.py")
    stem = path.stem
    text = starting_target(stem, path.name).encode("utf-8")
    if path.exists():
        raise OutputError(f"{path}: already exists; a new target is never written over a file")
    write_file(path, lambda handle: handle.write(text), replace=False)
    spec = f"{path}:{class_name(stem)}"
    say(f"wrote {path}")
    say(f"train it: linreg train --target {spec} --size ci")
    say(f"check it: linreg target check {spec}")


@target_app.command("check")
def check_command(
    spec: str = typer.Argument(
        ...,
        help="FILE.py:NAME, package.module:NAME, or a target "
        "shipped with linreg (mlp, cnn, chargpt, tutorial).",
    ),
    size: str = typer.Option("ci", help="The size whose steps are trained."),
    seed: int = typer.Option(42, help="The run's seed."),
) -> int:
    """Load a target, train two steps of each dtype it declares on the CPU (float32 twice, to
    see the runs agree bit for bit) and say what it supports. Exit 1 when a check fails."""
    from linreg.jobs.target_training import CHECK_STEPS, check_target  # imports torch
    from linreg.target_config import TargetConfig
    from linreg.target_loading import check_runs_here, load_target

    target, ref = load_target(spec)
    config = TargetConfig(target=ref, size=size, seed=seed, threads=1)
    check_runs_here(target, config)
    result = check_target(config, target)
    table = Table(title=f"{ref.name} (code {ref.short_hash}): {CHECK_STEPS} steps on the CPU")
    for column in ("dtype", "trains", "last train loss"):
        table.add_column(column, justify="right")
    for d in result.dtypes:
        last = "" if d.last_loss is None else f"{d.last_loss:.8g}"
        table.add_row(d.dtype, "yes" if d.problem is None else "no", last)
    console.print(table)
    say(f"devices: {', '.join(result.devices)}; engines: {', '.join(result.engines)}; "
        f"sizes: {', '.join(result.sizes)}")  # fmt: skip
    if not result.dtypes:
        say("cpu is not among its devices: nothing was trained here")
    if result.nondeterministic:
        say(f"declared nondeterministic: {'; '.join(result.nondeterministic)}")
    if result.twin_dtype is not None and result.twin_difference is None:
        say(f"two {result.twin_dtype} runs: bit-identical")
    failures = result.failures
    for line in failures[1:]:
        say(f"FAIL {line}")
    if failures:
        fail(f"target check: FAIL: {failures[0]}")
        return 1
    say(f"target check: OK: {ref.name}")
    return 0
