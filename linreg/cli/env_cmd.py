"""`linreg env`: the Environment fingerprint of this machine."""

from __future__ import annotations

import json

import typer

from linreg.cli import app


@app.command("env")
def env_command(
    as_json: bool = typer.Option(False, "--json", help="Print the fingerprint as JSON."),
    full: bool = typer.Option(
        False, "--full", help="Include torch's full build configuration (torch.__config__.show())."
    ),
) -> None:
    """Show the fingerprint recorded with every result: Python, OS, CPU, torch, GPUs, flags."""
    from linreg.env import capture_environment  # imports torch

    fingerprint = capture_environment()
    if as_json:
        typer.echo(json.dumps(fingerprint, indent=1, sort_keys=True))
        return
    # Here, not above: the JSON, read by scripts at every start, needs no table.
    from rich.table import Table

    from linreg.cli.console import console, say

    table = Table(title="linreg environment", show_header=True)
    table.add_column("key")
    table.add_column("value", overflow="fold")
    for key, value in fingerprint.items():
        if key == "torch_config" and not full:
            continue
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                table.add_row(f"{key}.{inner}", "" if inner_value is None else str(inner_value))
        else:
            table.add_row(key, "" if value is None else str(value))
    console.print(table)
    from linreg.machine import default_machine_name

    machine = default_machine_name()
    from linreg.paths import results_root

    say(f"env: this machine is {machine}: its bench results go to {results_root() / 'bench'}/")
