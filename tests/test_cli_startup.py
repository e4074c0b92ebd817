"""The CLI imports only what the chosen command needs: help costs no torch, and commands that
draw nothing load neither pandas nor plotly. (Start-up *times* are measured by the bench suite's
`overhead` kind, not here.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from linreg.cli import load_commands

HEAVY = ("torch", "pandas", "plotly", "scipy", "ruptures")


def loaded_after(args: list[str], tmp_path, watched: tuple[str, ...] = HEAVY) -> set[str]:
    code = (
        "import sys, json\n"
        "from linreg.cli import main\n"
        f"code = main({args!r})\n"
        f"print(json.dumps([code, [m for m in {watched!r} if m in sys.modules]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    code, modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0, done.stderr
    return set(modules)


COMMANDS = sorted(c.name or c.callback.__name__ for c in load_commands().registered_commands)


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=["linreg", *COMMANDS])
def test_help_imports_no_torch(tmp_path, command):
    assert loaded_after([*command, "--help"], tmp_path) == set()


def test_env_json_needs_torch_but_no_tables_or_figures(tmp_path):
    assert loaded_after(["env", "--json"], tmp_path) == {"torch"}


def test_a_command_imports_no_other_commands_module_nor_rich_it_does_not_print_with(tmp_path):
    """Each command module's imports (rich's tables, the comparison and repro modules) cost
    `env --json` a tenth of torch's own import, against a bound of 1.2 times it."""
    others = tuple(f"linreg.cli.{m}" for m in ("train_cmd", "repro_cmd", "compare_cmd", "ab_cmd"))
    assert loaded_after(["env", "--json"], tmp_path, ("rich", *others)) == set()


def test_every_command_is_listed_whichever_was_loaded_first(tmp_path):
    names = {"env", "evaluate", "explain", "gpu-run", "bisect", "history"}
    assert len(COMMANDS) == 14 and names <= set(COMMANDS)


def test_comparing_two_runs_draws_nothing_and_loads_no_pandas_or_plotly(tmp_path):
    from linreg.config import TrainConfig
    from linreg.jobs.training import train_to_folder

    folder = train_to_folder(TrainConfig(epochs=20, eval_every=5), out_dir=tmp_path / "r").folder
    assert loaded_after(["compare", str(folder), str(folder)], tmp_path) <= {"torch"}
