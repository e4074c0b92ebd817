"""`linreg compare REFERENCE CANDIDATE`: numerics and speed of two result sets, side by side."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from linreg import units
from linreg.cli import app, fail
from linreg.cli.console import console, progress, say
from linreg.cli.speed_table import print_speed_verdict
from linreg.compare.speed import DEFAULT_ALPHA, DEFAULT_INSTRUCTION_THRESHOLD, check_alpha
from linreg.errors import ConfigError
from linreg.options import parse_threshold
from linreg.report.pair_words import PAIR_WORDS, twin_missing_words
from linreg.report.speed_words import headline, metric_word
from linreg.tolerance import load_tolerances


@app.command("compare")
def compare_command(
    reference: Path = typer.Argument(
        ...,
        help="What the candidate is judged against: a run folder, repro result set, benchmark "
        "file or folder (a folder of benchmarks means its newest session per machine).",
    ),
    candidate: Path | None = typer.Argument(
        None, help="The change, of any of the same kinds (not with --all)."
    ),
    fail_on_regression: str | None = typer.Option(
        None,
        help="Gate: exit 1 when a case is slower beyond this (10% or 0.1) by wall time (its "
        "interval wholly beyond it), or beyond --instruction-threshold by instruction count. "
        "Gates only same-machine comparisons; without it, wall time is judged at 10% and "
        "reported.",
    ),
    instruction_threshold: str = typer.Option(
        f"{DEFAULT_INSTRUCTION_THRESHOLD:.0%}",
        help="A change in instructions per call beyond this (and twice the noise floor) counts.",
    ),
    alpha: float = typer.Option(
        DEFAULT_ALPHA,
        help="1 - the confidence of every interval (0.01: 99 %), and the false discovery rate "
        "across the cases (Benjamini–Hochberg).",
    ),
    rtol: float | None = typer.Option(None, help="Override rtol for every dtype."),
    atol: float | None = typer.Option(None, help="Override atol for every dtype."),
    pyproject: Path = typer.Option(
        Path("pyproject.toml"), help=r"Tolerances under \[tool.linreg] (Python >= 3.11)."
    ),
    history: bool = typer.Option(
        False,
        "--all",
        help="Read every session in REFERENCE (a folder) in time order and flag where a case "
        "stepped, instead of comparing two sets.",
    ),
    wide: bool = typer.Option(False, "--wide", help="Full case ids and environment values."),
    replay: bool = typer.Option(
        True,
        "--replay/--no-replay",
        help="Replay each pair of runs that is not bit-identical (one process a side) and say "
        "which quantity differs first, or why two dtypes leave the tolerance; a side of "
        "another torch is read from its history.",
    ),
    out: Path | None = typer.Option(
        None, help="Also write the speed verdict as a result file (the report reads it)."
    ),
) -> int:
    """Compare CANDIDATE with REFERENCE. Exit 1 on a numeric difference beyond tolerance or, with
    --fail-on-regression, a same-machine slowdown; 2 on bad input."""
    threshold = None
    if fail_on_regression is not None:
        threshold = parse_threshold("fail_on_regression", fail_on_regression)
    instructions = parse_threshold("instruction_threshold", instruction_threshold)
    check_alpha(alpha)
    if history:
        if candidate is not None:
            raise ConfigError("all", "reads one folder's history; give no CANDIDATE")
        return _history(reference, threshold, wide)
    if candidate is None:
        raise ConfigError("candidate", "missing: give REFERENCE and CANDIDATE (or --all)")
    if out is not None and out.exists():
        raise ConfigError("out", f"{out} already exists; results are never overwritten")
    tolerances = load_tolerances(pyproject).with_overrides(rtol=rtol, atol=atol)
    from linreg.compare.target_runs import holds_target_runs  # imports torch

    if holds_target_runs(reference) or holds_target_runs(candidate):
        return _target_runs(reference, candidate)
    from linreg.compare.sets import compare_result_sets

    result = compare_result_sets(reference, candidate, tolerances, threshold, alpha, instructions)
    for line in result.choices:
        say(line)
    if result.numerics:
        console.print(_numerics_table(result.judgements))
        for judgement in result.judgements:
            if judgement.twin_missing:
                why = twin_missing_words(judgement.requirement)
                say(f"note: {judgement.comparison.candidate_label}: {why}")
        if replay:
            _print_where_runs_part(result)
    for verdict in result.speed:
        print_speed_verdict(verdict, wide)
    for line in result.unmatched:
        say(line)
    _print_environment(result.environment_diff, wide)
    if out is not None and result.speed:
        _write_verdicts(out, result.speed)
    return _final_line(result, threshold)


def _target_runs(reference: Path, candidate: Path) -> int:
    """Two sets of a target's runs: each pair by config id (its code hash in it), and a run of
    another version of the target said as such, never judged as the same target."""
    from linreg.compare.target_runs import compare_target_runs

    result = compare_target_runs(reference, candidate)
    say(f"reference: {result.reference_source}")
    say(f"candidate: {result.candidate_source}")
    for pair in result.pairs:
        say(f"{pair.label}: {pair.words()}")
    for line in result.unmatched:
        say(line)
    failing = [pair for pair in result.pairs if pair.fails]
    if failing:
        fail(f"compare: FAIL: {failing[0].label} {failing[0].words()}")
        return 1
    versions = sum(pair.another_version for pair in result.pairs)
    same = len(result.pairs) - versions
    extra = f"; {versions} of another version of the target (information)" if versions else ""
    say(f"compare: OK: {same} run(s) of the same config bit-identical{extra}")
    return 0


def _print_where_runs_part(result) -> None:
    """Each pair that is not bit-identical, replayed (or read from the histories where a side
    is of another stack): the first quantity that differs, or the horizon's cause."""
    import textwrap

    from linreg.suites.replay import explain_pairs  # replays in worker processes

    pairs = [(c, r, n) for (c, r), n in zip(result.run_pairs, result.numerics, strict=True)]
    if not any(n.level != "a" for _, _, n in pairs):
        return
    progress("compare: replaying the pairs that are not bit-identical…")
    for (_, _, comparison), found in zip(pairs, explain_pairs(pairs), strict=True):
        if found is not None:
            text = f"where {comparison.candidate_label} parts: {found.line}"
            say(textwrap.fill(text, width=max(console.width, 40), subsequent_indent="  ",
                              break_on_hyphens=False))  # fmt: skip


def _numerics_table(judgements) -> Table:
    """Each pair: what differs (its kind), the level it needs by that, the level it reached."""
    table = Table(title="Numerics (candidate vs reference)", box=box.SIMPLE_HEAD,
                  padding=(0, 1, 0, 0), pad_edge=False, show_edge=False)  # fmt: skip
    for column in ("run", "pair", "needs", "reached", "1st diff", "horizon", "max ULP"):
        # Only the run's label may fold: a level split over two lines reads wrong.
        table.add_column(column, overflow="fold", no_wrap=column != "run")
    for j in judgements:
        c = j.comparison
        style = "green" if j.holds else "red"
        reached = _SHORT[c.level] + ("" if j.holds else " ✗")
        table.add_row(
            Text(c.candidate_label), j.kind, _SHORT[j.requirement], Text(reached, style=style),
            _epoch(c.divergence.bitwise), _epoch(c.horizon),
            str(max(q.max_ulp for q in c.quantities.values())),
        )  # fmt: skip
    return table


# The levels in the few characters a column at 80 has; the last line says them whole.
_SHORT = {"a": "bit-identical", "b": "within tol.", "b-horizon": "tol. as twin",
          "c": "same outcome", "d": "different"}  # fmt: skip


def _needs(requirement: str) -> str:
    from linreg.results.run_comparison import LEVEL_NAMES

    return LEVEL_NAMES.get(requirement, "within tolerance as long as its twin")


def _print_environment(diff, wide: bool) -> None:
    if not diff:
        console.print("environments: identical fingerprints")
        return
    table = Table(title="Environment differences")
    for column in ("key", "reference", "candidate"):
        table.add_column(column, overflow="fold")
    for key, (ref, cand) in diff.items():
        if key == "torch_config" and not wide:
            ref, cand = "(differs)", "(differs)"
        table.add_row(Text(key), Text(_short(ref, wide)), Text(_short(cand, wide)))
    console.print(table)


def _short(value, wide: bool) -> str:
    text = "" if value is None else str(value)
    return text if wide or len(text) <= 30 else text[:29] + "…"


def _write_verdicts(out: Path, verdicts) -> None:
    from linreg.results import kinds
    from linreg.results.files import write_json_new

    for index, verdict in enumerate(verdicts):
        path = out if index == 0 else out.with_name(f"{out.stem}-{index}{out.suffix}")
        write_json_new(path, kinds.envelope(kinds.SPEED_VERDICT, verdict.to_dict()))
        say(f"speed verdict: {path}")


def _final_line(result, threshold: float | None) -> int:
    """The last line says the verdict: FAIL for what gates, else each speed verdict's own word
    (slower cases named even where nothing gates on them)."""
    problems = []
    for j in result.numeric_failures:
        problems.append(
            f"{j.comparison.candidate_label} ({PAIR_WORDS[j.kind]}) needs "
            f"{_needs(j.requirement)}: {j.reason}"
        )
    slower: dict[str, list[str]] = {}
    for case in result.regressions:
        slower.setdefault(case.case, []).append(f"{case.metric} {units.ratio(case.ratio)}")
    problems += [f"{name} slower ({', '.join(figures)})" for name, figures in slower.items()]
    if problems:
        fail("compare: FAIL: " + "; ".join(problems))
        return 1
    speed = "; ".join(headline(v) for v in result.speed)
    gate = " (no gate: --fail-on-regression)" if result.speed and threshold is None else ""
    parts = [p for p in (_numerics_held(result.judgements), speed) if p]
    say(f"compare: OK: {'; '.join(parts) or 'nothing to compare'}{gate}")
    return 0


def _numerics_held(judgements) -> str:
    """'numerics hold (another dtype: the same outcome needed, reached)'."""
    if not judgements:
        return ""
    kinds = list(dict.fromkeys(j.kind for j in judgements))
    if len(kinds) == 1:
        j = judgements[0]
        needed = f"{_needs(j.requirement)} needed"
        count = f"{len(judgements)} pairs of " if len(judgements) > 1 else ""
        return f"numerics hold ({count}{PAIR_WORDS[j.kind]}: {needed}, reached)"
    return f"numerics hold ({len(judgements)} pairs, each at the level its kind needs)"


def _epoch(value: int | None) -> str:
    return "none" if value is None else str(value)


def _history(folder: Path, threshold: float | None, wide: bool) -> int:
    """Every session in the folder, in time order, as the history site reads them: where each
    case's series (wall time per host, instructions per stack) stepped, each step judged as the
    site judges it, and a jump in the newest sessions too short to be a step said undecided."""
    from linreg.compare.over_time import MAX_STEPS, case_series, judged_steps  # ruptures
    from linreg.report.step_words import change_words, outcome_words
    from linreg.results.bench_file import short_labels
    from linreg.results.history import gather

    history = gather([folder])
    found = case_series(history, threshold or 0.0)
    every = [one for series in found.values() for one in series]
    labels, _ = short_labels(sorted(found))
    if wide:
        labels = {n: n for n in labels}
    listed = [(one, step, False) for one in every for step in one.steps[-MAX_STEPS:]]
    listed += [(one, one.pending, True) for one in every if one.pending is not None]
    judged = {
        (id(r.series), r.step.position): r for r in judged_steps(listed, history, threshold or 0.0)
    }
    by_key: dict[tuple[str, str], list] = {}
    for one in every:
        by_key.setdefault((one.metric, one.key), []).append(one)
    stepped = pending = 0
    for (metric, key), series in sorted(by_key.items()):
        where = f"stack {key}" if metric == "instructions" else history.labels.get(key, key)
        sessions = max(len(one) for one in series)
        say(f"{metric_word(metric)} on {where}: {sessions} sessions")
        mine = sorted(
            (judged[(id(one), step.position)] for one, step, _ in listed if one in series),
            key=lambda r: (r.series.case, r.step.position),
        )
        left_out = sum(max(0, len(one.steps) - MAX_STEPS) for one in series)
        stepped += sum(not r.pending for r in mine) + left_out
        pending += sum(r.pending for r in mine)
        if not mine:
            console.print("  no step found beyond the noise")
        for r in mine:
            fmt = units.count if metric == "instructions" else units.seconds
            session = history.sessions[r.step.session].id
            newest = "session jumps" if r.sessions_ago == 1 else f"{r.sessions_ago} sessions jump"
            what = f"the newest {newest}, too few to stand as a step" if r.pending else "a step"
            say(
                f"  {labels[r.series.case]}: {metric} {units.ratio(r.step.ratio)} at session "
                f"{session} ({fmt(r.step.before)} → {fmt(r.step.after)}), {what}: "
                f"{outcome_words(r)}; {change_words(r.change)}"
            )
        if left_out:
            say(f"  {left_out} older step(s) not listed (the newest {MAX_STEPS} of each case are)")
    jumps = f", and {pending} jump(s) in the newest sessions, undecided" if pending else ""
    say(f"compare --all: {stepped} step(s) in {len(by_key)} series{jumps}")
    return 0
