"""`linreg repro --target SPEC`: a target's reproducibility matrix, and its checks in words."""

from __future__ import annotations

import textwrap
from pathlib import Path

from rich.table import Table
from rich.text import Text

from linreg.cli import fail
from linreg.cli.console import console, say
from linreg.cli.progress import tracked
from linreg.errors import ConfigError

# `linreg repro`'s options that say the tutorial's runs and its golden references: a target
# sets its own model, data and optimizer, and has no golden references.
TUTORIAL_ONLY = ("lr", "epochs", "samples", "optimizers", "momentums", "tf32", "deterministic",
                 "require", "outcome_steps", "reference_dir", "golden",
                 "update_reference")  # fmt: skip
# The matrix's axes: given again with --resume, each must be as the set was started with.
AXES = ("devices", "dtypes", "seeds", "threads", "engines", "size")
_STATUS_STYLE = {"holds": "green", "fails": "red", "declared": "yellow"}


def target_repro_command(
    spec: str | None,
    size: str | None,
    axes: dict[str, str | None],
    tolerance_overrides: tuple[float | None, float | None],
    pyproject: Path,
    out: Path | None,
    resume: Path | None,
    given: list[str],
    wide: bool,
) -> int:
    """Parse the options into TargetReproOptions (or take up a set), run it, say its checks."""
    for name in TUTORIAL_ONLY:
        if name in given:
            what = f"--target {spec}" if spec else "a target's repro set"
            raise ConfigError(name, f"is the tutorial's; {what} sets its own")
    from linreg.suites.target_repro import resume_target_repro, target_repro  # imports torch

    def on_start(folder: Path) -> None:
        say(f"result set {folder} (if interrupted: linreg repro --resume {folder})")

    if resume is not None:
        _check_resumed_axes(resume, spec, size, axes, given)
        with tracked("repro: runs") as tracker:
            report = resume_target_repro(resume, tracker.update, on_start)
    else:
        assert spec is not None
        options, target = target_options(spec, size, axes, tolerance_overrides, pyproject)
        with tracked("repro: runs") as tracker:
            report = target_repro(options, target, out, tracker.update, on_start)
    return _say_report(report, wide)


def target_options(spec, size, axes, tolerance_overrides, pyproject):
    """The options of a new set: the matrix's axes, and each dtype's tolerance (linreg's table,
    pyproject.toml's, the target's own, then --rtol/--atol)."""
    from linreg.config import DTYPES, ENGINES
    from linreg.numerics import available_devices
    from linreg.options import parse_choices, parse_integers, parse_threads, split_items
    from linreg.suites.target_repro_options import (
        TargetReproMatrix,
        TargetReproOptions,
        target_tolerances,
    )
    from linreg.target_loading import load_target
    from linreg.tolerance import load_tolerances

    target, ref = load_target(spec)
    size = size or "ci"
    if size not in target.sizes:
        raise ConfigError("size", f"{ref.name} has no size {size!r} (it has "
                          f"{', '.join(target.sizes)})")  # fmt: skip
    devices = axes["devices"]
    declared = [d for d in available_devices() if d.split(":")[0] in target.devices]
    matrix = TargetReproMatrix(
        target=ref,
        size=size,
        steps=target.sizes[size]["steps"],
        devices=tuple(split_items("devices", devices) if devices else declared),
        dtypes=parse_choices("dtypes", axes["dtypes"], DTYPES, ()),
        seeds=parse_integers("seeds", axes["seeds"], 0),
        threads=parse_threads("threads", axes["threads"] or "1"),
        engines=parse_choices("engines", axes["engines"], ENGINES, ()),
    )
    rtol, atol = tolerance_overrides
    tolerances = target_tolerances(load_tolerances(pyproject), target, rtol, atol)
    options = TargetReproOptions(matrix, tolerances, float(target.fp64_multiplier))
    return options, target


def _check_resumed_axes(resume: Path, spec, size, axes, given: list[str]) -> None:
    """A command line repeated with --resume is accepted; an axis that differs is refused."""
    from linreg.results import kinds
    from linreg.results.load import load
    from linreg.suites.target_repro_options import TargetReproOptions

    again = [name for name in (*AXES, "target") if name in given]
    if not again:
        return
    stored = load(resume / kinds.REPRO_MANIFEST_FILE, (kinds.TARGET_REPRO_MANIFEST,),
                  lambda data: TargetReproOptions.from_dict(data["options"]))  # fmt: skip
    if spec is None:
        return
    asked, _ = target_options(spec, size or stored.matrix.size, axes, (None, None), Path("-"))
    differing = []
    for name in again:
        if name == "target":
            was, now = stored.matrix.target.code_hash, asked.matrix.target.code_hash
        else:
            was, now = getattr(stored.matrix, name), getattr(asked.matrix, name)
        if was != now:
            differing.append(f"--{name} {_said(was)} (given {_said(now)})")
    if differing:
        raise ConfigError("resume", f"{resume} was started with {'; '.join(differing)}: a "
                          "resumed set keeps the options it was started with; drop these or "
                          "give them as they were")  # fmt: skip


def _said(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join("all" if v is None else str(v) for v in value)
    return str(value)


def _say_report(report, wide: bool) -> int:
    record = report.record
    console.print(_every_check(record.checks) if wide else _summary(record.checks))
    differences = [c for c in record.checks if c.difference is not None]
    if differences:
        say("where pairs part (both replayed, one process a side):")
        for c in differences:
            say(_wrapped(f"{c.subject} vs {c.against}: {c.difference.line}"))
    for c in record.checks:
        if c.kind == "consistency" and c.fails:
            for q in [q for q in c.quantities if not q.holds][:5]:
                say(_wrapped(f"{c.subject}: {q.quantity}: {_figures(q)}"))
    for subject, reason in record.skipped:
        say(f"skipped: {subject}: {reason}")
    say(f"results: {report.result_dir} ({record.seconds:.1f} s)")
    for c in record.checks:
        if c.status == "declared":
            say(f"declared nondeterministic (not passed): {c.subject}: {c.reason}")
    failures = record.failures
    for c in failures[1:]:
        say(f"FAIL {c.kind} ({c.pair}): {c.subject}: {c.reason}")
    held = sum(c.holds for c in record.checks)
    declared = sum(c.status == "declared" for c in record.checks)
    counts = f"{held} of {len(record.checks)} checks hold" + (
        f", {declared} declared nondeterministic" if declared else "")  # fmt: skip
    if failures:
        first = failures[0]
        fail(f"repro: FAIL: {first.kind} ({first.pair}): {first.subject}: {first.reason} "
             f"({counts})")  # fmt: skip
        return 1
    say(f"repro: OK: {record.target.name}: {counts}")
    return 0


def _figures(q) -> str:
    if q.error is None:
        return q.note or ("holds" if q.holds else "fails")
    parts = [f"RMSE {q.error:.3g}"]
    if q.relative is not None:
        parts.append(f"relative {q.relative:.3g}")
    if q.twin_error is not None:
        parts.append(f"twin's {q.twin_error:.3g}")
    parts.append(f"allowed {q.allowed:.3g}")
    if q.max_abs is not None:
        parts.append(f"max abs {q.max_abs:.3g}")
    if q.first_step is not None:
        parts.append(f"first beyond the elementwise tolerance at step {q.first_step}")
    return ", ".join(parts)


def _wrapped(text: str) -> str:
    return textwrap.fill(text, width=max(console.width, 40), initial_indent="  ",
                         subsequent_indent="    ", break_on_hyphens=False)  # fmt: skip


def _summary(checks) -> Table:
    """One row per kind of check and pair: what fits 80 columns whatever the matrix's size."""
    groups: dict[tuple[str, str], list] = {}
    for c in checks:
        groups.setdefault((c.kind, c.pair if c.kind == "consistency" else ""), []).append(c)
    table = Table(title="linreg repro --target: checks by kind and pair (--wide lists each)")
    for column in ("check", "pair", "hold", "fail", "declared"):
        table.add_column(column)
    for (kind, pair), group in groups.items():
        counts = {s: sum(c.status == s for c in group) for s in _STATUS_STYLE}
        table.add_row(kind, pair, *(Text(str(counts[s]), style=_STATUS_STYLE[s] if counts[s]
                                         else "") for s in _STATUS_STYLE))  # fmt: skip
    return table


def _every_check(checks) -> Table:
    table = Table(title="linreg repro --target: every check")
    for column in ("check", "run", "against", "result", "why"):
        table.add_column(column, overflow="fold")
    for c in checks:
        table.add_row(
            f"{c.kind} ({c.pair})" if c.kind == "consistency" else c.kind,
            Text(c.subject), Text(c.against),
            Text(c.status, style=_STATUS_STYLE[c.status]), Text(c.reason),
        )  # fmt: skip
    return table
