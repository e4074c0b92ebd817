"""The speed verdict as a table at 80 columns, for `linreg compare` and `linreg ab`, with the
op lists of the cases whose ops changed and the function lists of the instruction cases that
moved under it."""

from __future__ import annotations

import textwrap

from rich import box
from rich.table import Table
from rich.text import Text

from linreg import units
from linreg.cli.console import console, say
from linreg.cli.function_list import print_case_functions
from linreg.cli.op_list import print_case_ops
from linreg.report.op_words import per_step
from linreg.report.speed_words import case_words, notes, summary
from linreg.results.bench_file import short_labels
from linreg.results.speed_verdict import (
    INSTRUCTIONS,
    NO_CHANGE,
    OPS,
    SLOWER,
    UNDECIDED,
    SpeedVerdict,
)


def print_speed_verdict(verdict: SpeedVerdict, wide: bool) -> None:
    """The verdict's summary, notes and one row per case and metric (`compare` and `ab`): at 80
    columns each row stays on one line (short case labels, no rules between columns); the
    verdict column says the outcome, the summary above it the thresholds and the advice."""
    # Prose: wrapped to the terminal, each continuation indented under its line.
    say(_wrapped(f"Speed: {summary(verdict)}", "", "  "))
    for note in notes(verdict):
        say(_wrapped(note, "  ", "    "))
    if not verdict.cases:
        return
    names = sorted({c.case for c in verdict.cases})
    labels, common = short_labels(names) if not wide else ({n: n for n in names}, ())
    table = Table(
        title=f"cases ({' '.join(common)})" if common else "cases",
        box=box.SIMPLE_HEAD, padding=0, pad_edge=False,
        show_edge=False,
    )  # fmt: skip
    level = f"{units.sig((verdict.confidence or 0.99) * 100, 3)}% CI"
    for column in ("case", "metric", "ref", "cand", "ratio", level, "p adj", "verdict"):
        left = column in ("case", "verdict")
        # Only the case label may fold: a number or a verdict split over two lines reads wrong.
        table.add_column(column, overflow="fold", no_wrap=column != "case" and not wide,
                         justify="left" if left else "right",
                         min_width=min(24, max(map(len, labels.values()))) if column == "case"
                         else None)  # fmt: skip
    for c in verdict.cases:
        fmt = {INSTRUCTIONS: units.count, OPS: per_step}.get(c.metric, units.seconds)
        style = "red" if c.outcome == SLOWER else ""
        table.add_row(
            Text(labels[c.case]), "instr" if c.metric == INSTRUCTIONS else c.metric,
            fmt(c.reference), fmt(c.candidate), units.ratio(c.ratio),
            # Every interval it has, an undecided case's too: its width is why it is undecided.
            "–" if c.ci is None else f"{units.sig(c.ci[0], 2)}–{units.sig(c.ci[1], 2)}",
            "–" if c.p_adjusted is None else f"{c.p_adjusted:.2g}",
            Text(case_words(c) if wide else _short(c), style=style),
        )  # fmt: skip
    console.print(table)
    print_case_ops(verdict, labels, wide)
    print_case_functions(verdict, labels, wide)


def _wrapped(text: str, first: str, rest: str) -> str:
    return textwrap.fill(text, width=max(console.width, 40), initial_indent=first,
                         subsequent_indent=rest, break_on_hyphens=False)  # fmt: skip


def _short(case) -> str:
    """The outcome in the few characters the narrow column has."""
    if case.outcome == NO_CHANGE:
        if case.metric == OPS:
            return "same ops"
        return f"no change ±{units.percent(case.threshold).replace(' ', '')}"
    if case.outcome == UNDECIDED:
        # The processes it had; the summary above says how many would decide.
        n, m = case.samples
        return f"undecided ({n} vs {m})" if case.metric == "wall" else "undecided"
    text = case.outcome
    return f"{text}, unstable" if case.unstable and case.outcome != UNDECIDED else text
