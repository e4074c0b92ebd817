"""`linreg explain REFERENCE CANDIDATE --case ID`: where one case's instructions went."""

from __future__ import annotations

import textwrap
from pathlib import Path

import typer

from linreg import units
from linreg.cli import app
from linreg.cli.console import console, say
from linreg.cli.function_list import print_functions
from linreg.errors import ConfigError
from linreg.units import signed_count


@app.command("explain")
def explain_command(
    reference: Path = typer.Argument(
        ...,
        help="A benchmark file or folder, as `linreg compare` reads it (a folder means its "
        "newest session per machine), whose cases kept callgrind profiles.",
    ),
    candidate: Path = typer.Argument(..., help="The change, of the same kinds."),
    case: str = typer.Option(
        ...,
        help="The case: its full id (as `linreg compare --wide` shows it), its name after "
        "'::', or a part of the id that names one case alone, e.g. 'train' or 'n1000'.",
    ),
    top: int = typer.Option(15, help="Functions listed, inclusive and exclusive each."),
    wide: bool = typer.Option(False, "--wide", help="Whole function names."),
) -> int:
    """The functions whose instruction counts moved between REFERENCE's and CANDIDATE's
    profiles of one case, changed or not: per call, beyond the noise floor, inclusive (with
    what they called) and exclusive (their own). Exit 2 where a side has no such case or kept
    no profile of it."""
    if top < 1:
        raise ConfigError("top", f"must be at least 1, got {top}")
    from linreg.compare.explain_cases import explain_case  # imports torch

    result = explain_case(reference, candidate, case, top)
    say(f"reference: {result.reference}")
    say(f"candidate: {result.candidate}")
    change = signed_count(result.candidate_per_call - result.reference_per_call)
    line = (f"{result.case}: {units.count(result.reference_per_call)} → "
            f"{units.count(result.candidate_per_call)} instructions a call "
            f"({units.ratio(result.ratio)}, {change})")  # fmt: skip
    say(textwrap.fill(line, width=max(console.width, 40), subsequent_indent="  ",
                      break_on_hyphens=False, break_long_words=False))  # fmt: skip
    print_functions(result.changes.functions, result.changes.note, wide)
    return 0
