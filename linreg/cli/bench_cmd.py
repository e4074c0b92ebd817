"""`linreg bench`: run the benchmark suite (bench/) and summarise what it stored."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from linreg.cli import app, fail
from linreg.cli.console import console
from linreg.config import DTYPES, ENGINES
from linreg.paths import BASELINES
from linreg.suites.bench_selection import KINDS, parse_selection


@app.command(
    "bench",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def bench_command(
    ctx: typer.Context,
    devices: str = typer.Option(
        None,
        help="Comma list of cpu,cuda,mps (default: all; absent devices are reported as skipped).",
    ),
    dtypes: str = typer.Option(None, help=f"Comma list of {','.join(DTYPES)} (default: all)."),
    seeds: str = typer.Option(None, help="Comma list of seeds for the train cases (default 42)."),
    sizes: str = typer.Option(
        None,
        help="Comma list of sample counts for the size sweep and "
        "inference batches (default: 40..1e7 and 10..1e7).",
    ),
    engines: str = typer.Option(None, help=f"Comma list of {','.join(ENGINES)} (default: all)."),
    kinds: str = typer.Option(None, help=f"Comma list of {','.join(KINDS)} (default: all)."),
    quick: bool = typer.Option(
        False,
        "--quick",
        help="CI profile: cpu, float32, seed 42, eager, train + inference, few rounds.",
    ),
    machine: str = typer.Option(
        None,
        help="Machine name; results go to results/bench/MACHINE/ "
        "(default: from the CPU and GPU models).",
    ),
    baseline: bool = typer.Option(
        False,
        "--baseline",
        help="Store this run as the machine's committed baseline, under "
        "results/baselines/MACHINE/, instead of results/bench/MACHINE/ (ignored by git).",
    ),
    json_file: Path = typer.Option(
        None, "--json", help="Also write pytest-benchmark's JSON here (refuses an existing file)."
    ),
) -> int:
    """Run the benchmark suite; arguments after `--` go to pytest (e.g. -- -k train -x)."""
    selection = parse_selection(devices, dtypes, seeds, sizes, engines, kinds, quick)
    from linreg.suites.bench_runner import run_bench_suite  # imports torch

    outcome = run_bench_suite(
        selection, machine, json_file, ctx.args, results_root=BASELINES if baseline else None
    )
    if outcome.saved:
        from linreg.report.frames import load_bench_frame

        console.print(_summary(load_bench_frame(outcome.saved), outcome.machine))
    for path in outcome.saved:
        console.print(f"saved {path}")
    if outcome.json_path is not None and outcome.json_path.exists():
        console.print(f"wrote {outcome.json_path}")
    if outcome.exit_code == 4:
        fail("error: pytest refused the arguments (see above)")
        return 2
    if outcome.exit_code not in (0, 5):
        return 1
    if not outcome.saved:
        fail(f"nothing was stored under {outcome.storage}")
    return 0


def _summary(frame, machine: str) -> Table:
    table = Table(title=f"linreg bench: {machine}")
    table.add_column("case", overflow="fold")
    for column in ("median", "IQR", "rounds", "epoch µs", "GB/s"):
        table.add_column(column, justify="right", no_wrap=True)
    ordered = frame.sort_values(["kind", "device", "dtype", "engine", "seed", "threads", "size"])
    for row in ordered.itertuples():
        table.add_row(
            Text(row.name.removeprefix("bench_")),  # Text: test ids hold [...], not markup
            _seconds(row.median_s),
            _seconds(row.iqr_s),
            str(row.rounds),
            _number(row.epoch_us, "{:.1f}"),
            _number(row.gb_per_s, "{:.2f}"),
        )
    return table


def _seconds(value: float) -> str:
    return f"{value * 1e3:.3f} ms" if value >= 1e-3 else f"{value * 1e6:.1f} µs"


def _number(value, fmt: str) -> str:
    return "" if value is None or value != value else fmt.format(value)
