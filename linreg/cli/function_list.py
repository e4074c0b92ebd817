"""Where a case's instructions went, as tables under the speed table and for `linreg explain`."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from linreg import units
from linreg.cli.console import console, say
from linreg.report.function_names import short_functions
from linreg.results.speed_verdict import (
    EXCLUSIVE,
    FASTER,
    INCLUSIVE,
    INSTRUCTIONS,
    SLOWER,
    FunctionDelta,
)

_KINDS = (
    (INCLUSIVE, "inclusive: with what they called"),
    (EXCLUSIVE, "exclusive: their own instructions"),
)
# Between the three columns: a separator and a space of padding either side, twice.
_GAPS = 6


def print_case_functions(verdict, labels: Mapping[str, str], wide: bool) -> None:
    """Each instruction case of the verdict that is slower or faster: its function list."""
    for case in verdict.cases:
        if case.metric != INSTRUCTIONS or case.outcome not in (SLOWER, FASTER):
            continue
        change = units.signed_count(case.candidate - case.reference)
        label = labels.get(case.case, case.case)
        say(f"Where the instructions went: {label}, {case.outcome} ({units.ratio(case.ratio)}, "
            f"{change} a call)")  # fmt: skip
        print_functions(case.functions, case.functions_note, wide)


def print_functions(functions: Sequence[FunctionDelta], note: str, wide: bool) -> None:
    """The inclusive list, then the exclusive one, and the note (the noise rule, or why none).
    At the terminal's width each name is shortened, no two alike (``short_functions``);
    ``wide``: whole."""
    deltas = {row: units.signed_count(row.delta) for row in functions}
    shares = {row: units.NOTHING if row.share is None else units.share(row.share)
              for row in functions}  # fmt: skip
    numbers = (max([len("Δ a call"), *map(len, deltas.values())])
               + max([len("share"), *map(len, shares.values())]) + _GAPS)  # fmt: skip
    width = max(console.width - numbers, 30)
    # One name for each function across both lists, and never one for two functions.
    names = short_functions((row.function for row in functions), width)
    for kind, title in _KINDS:
        rows = [f for f in functions if f.kind == kind]
        if not rows:
            continue
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
                      pad_edge=False, show_edge=False)  # fmt: skip
        table.add_column("function", overflow="fold", no_wrap=not wide)
        table.add_column("Δ a call", justify="right", no_wrap=True)
        table.add_column("share", justify="right", no_wrap=True)
        for row in rows:
            name = row.function if wide else names[row.function]
            table.add_row(Text(name), deltas[row], shares[row])
        console.print(table)
    if note:
        say(textwrap.fill(note, width=max(console.width, 40), initial_indent="  ",
                          subsequent_indent="    ", break_on_hyphens=False))  # fmt: skip
