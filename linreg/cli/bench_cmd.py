"""`linreg bench`: run the benchmark suite (bench/) and summarise what it stored."""

from __future__ import annotations

import statistics
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from linreg import paths, units
from linreg.cli import app, fail
from linreg.cli.console import console, progress, say
from linreg.config import DTYPES, ENGINES, OPTIMIZERS
from linreg.errors import ConfigError
from linreg.paths import BASELINES
from linreg.results import kinds
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
    kinds: str = typer.Option(
        None,
        help=f"Comma list of {', '.join(KINDS)} (default: all); with --target: target_step, "
        "target_inference (its default) and target_overhead (the harness against a bare loop).",
    ),
    optimizers: str = typer.Option(
        None,
        help=f"Comma list of {','.join(OPTIMIZERS)} for the train cases (default: sgd, the "
        "tutorial's; adam and momentum: eager only, other engines skipped with the reason).",
    ),
    momentums: str = typer.Option(
        None, help="Comma list of SGD momentums in [0, 1) for the train cases (default: 0)."
    ),
    target: str = typer.Option(
        None,
        "--target",
        help="Bench a target instead of the tutorial: FILE.py:NAME, package.module:NAME or a "
        "bundled name (mlp, cnn, chargpt). Its cases: target_step (the harness's loop over the "
        "size's steps) and target_inference (the forward over its eval batches), ids naming "
        "its code hash.",
    ),
    size: str = typer.Option(
        None, "--size", help="The --target's size the cases train (default ci)."
    ),
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
        "results/baselines/MACHINE/, instead of results/bench/MACHINE/ (ignored by git); where "
        "it counted instructions or ops (--quick; instructions with Valgrind), also as its "
        "stack's baseline, results/baselines/instructions/STACK-KEY/, which `linreg run` gates "
        "on. With --target: under results/baselines/targets/NAME-CODEHASH/ (bench/MACHINE/ and "
        "instructions/STACK-KEY/), the baselines of that version of the target alone; from an "
        "installed linreg, under the results root (the tutorial's baseline is a checkout's).",
    ),
    json_file: Path = typer.Option(
        None, "--json", help="Also write pytest-benchmark's JSON here (refuses an existing file)."
    ),
    processes: int = typer.Option(
        1,
        help="Run the suite in this many processes, one after the other: a comparison takes one "
        "sample per process, and with 2 or more their spread is stored as the machine's noise "
        "floor (8 is a good A/A measurement).",
    ),
    wide: bool = typer.Option(False, "--wide", help="Full case ids in the summary."),
) -> int:
    """Run the benchmark suite; arguments after `--` go to pytest (e.g. -- -k train -x)."""
    if baseline and not paths.CHECKOUT and target is None:
        # An installed package is no place for records: a reinstall would drop them unseen.
        # (A target's baselines go under the results root: linreg.paths.target_baselines_root.)
        why = "stores a checkout's committed baseline; this linreg is installed, not a checkout"
        raise ConfigError("baseline", f"{why} (runs without it go to results/bench/)")
    selection = parse_selection(
        devices, dtypes, seeds, sizes, engines, kinds, quick, optimizers=optimizers,
        momentums=momentums, target=target, target_size=size,
    )  # fmt: skip
    ref = None
    if selection.target is not None:
        from linreg.target_loading import load_target

        # A bad target or size: one line and exit 2, before pytest starts.
        target, ref = load_target(selection.target)
        if selection.target_size not in target.sizes:
            raise ConfigError("size", f"{selection.target} has no size {selection.target_size!r} "
                              f"(it has {', '.join(target.sizes)})")  # fmt: skip
    from linreg.suites.bench_request import BenchRequest
    from linreg.suites.bench_runner import run_bench_suite  # imports torch

    def on_process(index: int, total: int, code: int) -> None:
        if total > 1:
            progress(f"bench: process {index + 1} of {total} done (pytest exit {code})")

    storage = BASELINES if baseline else None
    if baseline and ref is not None:
        from linreg.results.target_baselines import wall_root

        storage = wall_root(ref)  # a target's own folder: never the tutorial's newest baseline
    outcome = run_bench_suite(
        BenchRequest(selection, machine=machine),
        storage,
        extra_args=ctx.args,
        json_path=json_file,
        processes=processes,
        on_process=on_process,
    )
    if outcome.problem:
        fail(f"bench: FAIL: {outcome.problem}")
        return 1
    if outcome.exit_code == 4:
        fail("error: pytest refused the arguments (see above)")
        return 2
    if outcome.saved:
        _print_summary(outcome, wide)
    if outcome.exit_code not in (0, 5):
        fail(f"bench: FAIL: pytest exit {outcome.exit_code} (see its output above)")
        return 1
    if not outcome.saved:
        fail(f"bench: nothing was stored under {outcome.storage}")
        return 0
    where = "baseline" if baseline else "results"
    say(
        f"bench: OK: {len(outcome.saved)} file(s) from {processes} process(es) stored as "
        f"{where} in {outcome.storage}"
    )
    if baseline:
        _store_instruction_baseline(outcome.saved, ref)
    return 0


def _store_instruction_baseline(saved, ref=None) -> None:
    from linreg.results.instruction_baselines import store_instruction_baselines
    from linreg.results.target_baselines import store_target_baselines

    stored = (
        store_instruction_baselines(saved) if ref is None else store_target_baselines(saved, ref)
    )
    for path in stored:
        say(f"bench: instruction baseline of its stack stored as {path}")
    if not stored:
        say(
            "bench: no instruction or op counts in this run (the quick profile counts both, "
            "instructions with Valgrind): no stack instruction baseline stored"
        )


def _print_summary(outcome, wide: bool) -> None:
    from linreg.results.bench_file import short_labels
    from linreg.results.bench_sessions import session_samples, sessions
    from linreg.results.load import load_result
    from linreg.results.noise_floor import spread

    files = [r.value for r in map(load_result, outcome.saved) if r and r.kind == kinds.BENCH]
    for session in sessions(files):
        samples = session_samples(session)
        names = sorted(samples)
        labels, common = short_labels(names) if not wide else ({n: n for n in names}, ())
        title = f"{session.machine}, {session.processes} process(es)"
        table = Table(title=f"{title} ({' '.join(common)})" if common else title)
        for column in ("case", "median", "spread", "instructions"):
            table.add_column(column, justify="left" if column == "case" else "right")
        for name in names:
            case = samples[name]
            table.add_row(
                Text(labels[name]),
                units.seconds(statistics.median(case.wall)),
                units.percent(spread(case.wall)) if len(case.wall) > 1 else "–",
                units.count(statistics.median(case.instructions)) if case.instructions else "–",
            )
        console.print(table)
    for path in outcome.saved:
        say(f"saved {path}")
    if outcome.noise_floor is not None:
        say(f"noise floor: {outcome.noise_floor}")
    if outcome.json_path is not None and outcome.json_path.exists():
        say(f"wrote {outcome.json_path}")
