"""One real `linreg bisect`, run once a test session (tests.built_once): a scratch repository of
the checkout's code whose second commit plants tensor ops in the eager training step, bisected by
instruction counts of the train case. Its probes are bench result sets, each counted under
Valgrind from its own worktree: the good commit is the clean code, the planted commit and the
last one hold the same planted code in two folders (an A/A for `explain`).

test_bisect.py reads the search and its output; test_explain_valgrind.py reads the counts (the
minutes under Valgrind are paid once for both)."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.built_once import built_once

REPO = Path(__file__).resolve().parent.parent
PLANT = "            optimizer.step()\n"
# Three ops an epoch: about +10 % of the train case's count, clear of the 3 % threshold.
PLANTED = PLANT + (
    "            for _ in range(3):  # the planted slowdown\n"
    "                torch.exp(X_train).sum()\n"
)
# Three commits, the second planted: the good and bad ends in the first round, the one between
# in the second. Two rounds, three counts: the fewest that still search (the middle commit is
# found, not given) and give explain an A/A of the planted code in two folders.
COMMITS, PLANTED_AT = 3, 2


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def scratch_repository(folder: Path, planted_at: int, commits: int = 8) -> list[str]:
    """A git repository of the checkout's code, ``commits`` commits long; the one numbered
    ``planted_at`` (1-based) adds tensor ops to the eager training step. Its commit ids."""
    for part in ("linreg", "bench"):
        shutil.copytree(REPO / part, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
    git(folder, "init", "-q")
    git(folder, "config", "user.email", "bisect@example.com")
    git(folder, "config", "user.name", "bisect test")
    shas = []
    for number in range(1, commits + 1):
        notes = folder / "NOTES.txt"
        notes.write_text(f"{notes.read_text() if notes.exists() else ''}change {number}\n")
        if number == planted_at:
            eager = folder / "linreg" / "engines" / "eager.py"
            text = eager.read_text()
            assert PLANT in text
            eager.write_text(text.replace(PLANT, PLANTED, 1))
        git(folder, "add", "-A")
        git(folder, "commit", "-q", "-m", f"change {number}")
        shas.append(git(folder, "rev-parse", "HEAD"))
    return shas


@dataclass(frozen=True)
class RealBisect:
    """The repository, its commits, the probes' folder, and what the command said."""

    repo: Path
    shas: list[str]
    probes: Path
    exit_code: int
    printed: str

    def probe(self, number: int) -> Path:
        """The bench result set of commit ``number`` (1-based)."""
        return self.probes / self.shas[number - 1][:10]

    @property
    def planted_line(self) -> int:
        eager = (self.repo / "linreg/engines/eager.py").read_text().splitlines()
        return next(n for n, text in enumerate(eager, 1) if "torch.exp(X_train).sum()" in text)


def real_bisect(request: pytest.FixtureRequest) -> RealBisect:
    from linreg.cli import main

    def build(base: Path) -> None:
        shas = scratch_repository(base / "repo", PLANTED_AT, COMMITS)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = main(
                [
                    "bisect",
                    "--repo",
                    str(base / "repo"),
                    "--good",
                    shas[0],
                    "--bad",
                    shas[-1],
                    "--case",
                    "train",
                    "--out",
                    str(base / "probes"),
                ]
            )
        (base / "exit_code").write_text(str(code))
        (base / "printed.txt").write_text(printed.getvalue())

    base = built_once(request, "real-bisect", build)
    shas = git(base / "repo", "log", "--reverse", "--format=%H").splitlines()
    return RealBisect(base / "repo", shas, base / "probes", int((base / "exit_code").read_text()),
                      (base / "printed.txt").read_text())  # fmt: skip
