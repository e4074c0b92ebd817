"""Every command's --help reads whole at 80 columns: no word cut short, no text taken for markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from linreg.cli import load_commands, main
from linreg.compare.runs import REQUIREMENT_MEANINGS, REQUIREMENTS

COMMANDS = sorted(c.name or c.callback.__name__ for c in load_commands().registered_commands)


@pytest.fixture
def help_text(monkeypatch, capsys):
    def text(*args: str) -> str:
        monkeypatch.setenv("COLUMNS", "80")  # what rich sizes typer's help to
        monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
        assert main([*args, "--help"]) == 0
        return capsys.readouterr().out

    return text


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=["linreg", *COMMANDS])
def test_help_at_80_columns_cuts_no_word_short(help_text, command) -> None:
    text = help_text(*command)
    assert max(len(line) for line in text.splitlines()) <= 80
    # rich ends a cell it had to cut with "…"; the help texts themselves say "..." where they
    # mean an ellipsis, so any "…" is a cut.
    cut = [line.strip() for line in text.splitlines() if "…" in line]
    assert not cut, cut


@pytest.mark.parametrize("command", ["repro", "compare"])
def test_help_shows_the_pyproject_section_rather_than_taking_it_for_markup(
    help_text, command
) -> None:
    text = re.sub(r"[\s│]+", " ", help_text(command))  # the option's help, unfolded
    assert "Tolerances under [tool.linreg] (Python >= 3.11)." in text


REPO = Path(__file__).resolve().parent.parent


def test_every_required_level_is_named_and_explained_in_the_readme_and_the_help(help_text):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    levels = readme[readme.index("**Verdict levels.**") :].split("\n\n")[0]
    help_ = re.sub(r"[\s│]+", " ", help_text("repro"))
    for level in REQUIREMENTS:
        # Named in the README's paragraph on levels, and with its meaning in --require's help.
        assert f"({level})" in levels or f"**{level}**" in levels, level
        assert f"{level} {REQUIREMENT_MEANINGS[level]}" in help_, level
    assert "b-horizon**, between (b) and (c)" in levels
