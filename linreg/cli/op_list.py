"""Which ops a step changed, as tables under the speed table (before the function lists), for
`linreg explain` and for `linreg bisect`."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

from rich import box
from rich.table import Table
from rich.text import Text

from linreg.cli.console import console, say
from linreg.report.op_words import (
    MAX_OPS,
    change_word,
    op_lines,
    ops_headline,
    per_step,
    shows_ops,
    signed_per_step,
    site_words,
)
from linreg.results.op_changes import MOVED, OpDelta, OpEvidence
from linreg.results.speed_verdict import SpeedVerdict


def print_case_ops(verdict: SpeedVerdict, labels: Mapping[str, str], wide: bool) -> None:
    """Each case whose ops a step changed, or whose count moved with the same ops."""
    for case in verdict.cases:
        if not shows_ops(case):
            continue
        label = labels.get(case.case, case.case)
        say(_wrapped(f"Which ops a step changed: {label}, {case.metric} {case.outcome}"))
        print_ops(case.ops, wide)


def print_ops(ops: OpEvidence, wide: bool, limit: int | None = MAX_OPS) -> None:
    """The finding in one line, then one row per changed op (added and removed first, moved
    after), each with the line that made most of its change."""
    say(_wrapped(ops_headline(ops), "  ", "    "))
    ordered = [d for d in ops.changes if d.change != MOVED] + list(ops.moved)
    if not ordered:
        return
    shown = ordered if limit is None or wide else ordered[:limit]
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
    table.add_column("op", no_wrap=True)
    table.add_column("a step", justify="right", no_wrap=True)
    table.add_column("Δ", justify="right", no_wrap=True)
    table.add_column("from", overflow="fold")
    if wide:
        table.add_column("code", overflow="fold")
    for delta in shown:
        site = _main_site(delta)
        row = [
            Text(delta.op),
            f"{per_step(delta.reference_per_step)} → {per_step(delta.candidate_per_step)}",
            change_word(delta) if delta.change == MOVED else signed_per_step(delta.delta),
            Text("" if site is None else site_words(site)),
        ]
        if wide:
            row.append(Text("" if site is None else site.code))
        table.add_row(*row)
    console.print(table)
    if len(shown) < len(ordered):
        say(f"  … and {len(ordered) - len(shown)} more ops (--wide lists them all)")


def print_op_lines(ops: OpEvidence) -> None:
    """The op list as lines, for a summary (`linreg bisect`)."""
    say(_wrapped(ops_headline(ops), "  ", "    "))
    for line in op_lines(ops, MAX_OPS):
        say(_wrapped(line, "    ", "      "))


def _main_site(delta: OpDelta):
    """The line that made most of the op's change (for a moved op: where it is made now)."""
    if delta.change == MOVED:
        return next((s for s in delta.sites if s.delta > 0), None)
    return next((s for s in delta.sites if (s.delta > 0) == (delta.delta > 0) and s.delta), None)


def _wrapped(text: str, first: str = "", rest: str = "  ") -> str:
    return textwrap.fill(text, width=max(console.width, 40), initial_indent=first,
                         subsequent_indent=rest, break_on_hyphens=False)  # fmt: skip
