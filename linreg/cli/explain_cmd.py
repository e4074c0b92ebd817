"""`linreg explain REFERENCE CANDIDATE --case ID`: which ops one case's step changed, and where
its instructions went."""

from __future__ import annotations

import textwrap
from pathlib import Path

import typer

from linreg import units
from linreg.cli import app
from linreg.cli.console import console, say
from linreg.cli.function_list import print_functions
from linreg.cli.op_list import print_ops
from linreg.errors import ConfigError
from linreg.units import signed_count


@app.command("explain")
def explain_command(
    reference: Path = typer.Argument(
        ...,
        help="A benchmark file or folder, as `linreg compare` reads it (a folder means its "
        "newest session per machine), whose cases kept op counts or callgrind profiles.",
    ),
    candidate: Path = typer.Argument(..., help="The change, of the same kinds."),
    case: str = typer.Option(
        ...,
        help="The case: its full id (as `linreg compare --wide` shows it), its name after "
        "'::', or a part of the id that names one case alone, e.g. 'train' or 'n1000'.",
    ),
    top: int = typer.Option(15, help="Functions listed, inclusive and exclusive each."),
    wide: bool = typer.Option(False, "--wide", help="Whole function names, every op and its code."),
) -> int:
    """Why one case moved between REFERENCE and CANDIDATE, changed or not: first the ops a step
    makes more or less often, each with the line that made it (op counts: any device); then
    the functions whose instruction counts moved between the two profiles, per call, beyond
    the noise floor, inclusive (with what they called) and exclusive (their own). Exit 2 where
    a side has no such case, or kept neither its op counts nor its profile."""
    if top < 1:
        raise ConfigError("top", f"must be at least 1, got {top}")
    from linreg.compare.explain_cases import explain_case  # imports torch

    result = explain_case(reference, candidate, case, top)
    say(f"reference: {result.reference}")
    say(f"candidate: {result.candidate}")
    say(_wrapped(f"{result.case}: ops a step"))
    if result.ops is not None:
        print_ops(result.ops, wide)
    else:
        say(_wrapped(result.ops_note, "  ", "    "))
    if result.changes is None:
        say(_wrapped(f"{result.case}: {result.functions_note}"))
        return 0
    change = signed_count(result.candidate_per_call - result.reference_per_call)
    say(_wrapped(f"{result.case}: {units.count(result.reference_per_call)} → "
                 f"{units.count(result.candidate_per_call)} instructions a call "
                 f"({units.ratio(result.ratio)}, {change})"))  # fmt: skip
    print_functions(result.changes.functions, result.changes.note, wide)
    return 0


def _wrapped(text: str, first: str = "", rest: str = "  ") -> str:
    return textwrap.fill(text, width=max(console.width, 40), initial_indent=first,
                         subsequent_indent=rest, break_on_hyphens=False,
                         break_long_words=False)  # fmt: skip
