"""`linreg bisect`: the commit that changed a case, found by binary search with instruction
counts of each probed commit's own code, in a worktree (nothing installed)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from linreg.cli import main
from linreg.errors import ConfigError
from linreg.results.bench_sessions import CaseSamples
from linreg.results.speed_verdict import INSTRUCTIONS, NO_CHANGE, UNDECIDED, CaseVerdict
from linreg.suites import bisect as bisect_module
from linreg.suites.bisect import (
    InstructionCounter,
    Measured,
    WallTimer,
    bisect,
    measurer_for,
    parse_case,
)

REPO = Path(__file__).resolve().parent.parent
PLANT = "            optimizer.step()\n"
# Three ops an epoch: about +10 % of the train case's count, clear of the 3 % threshold.
PLANTED = PLANT + (
    "            for _ in range(3):  # the planted slowdown\n"
    "                torch.exp(X_train).sum()\n"
)


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


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind (callgrind)")
def test_bisect_names_the_commit_that_added_tensor_ops_in_four_counts(tmp_path, capsys):
    shas = scratch_repository(tmp_path / "repo", planted_at=5)
    args = ["bisect", "--repo", str(tmp_path / "repo"), "--good", shas[0], "--bad", shas[-1],
            "--case", "train"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"first commit beyond 3%: {shas[4][:10]} 'change 5'" in out
    assert "slower" in out and "exp" in out  # the planted op heads the function list
    [summary] = [line for line in out.splitlines() if line.startswith("bisect: OK")]
    counts = int(summary.split(" in ")[1].split()[0])
    assert counts <= 4 and " s" in summary.split("measurements, ")[1]
    # The user's checkout is left as it was: no worktree stays registered.
    assert len(git(tmp_path / "repo", "worktree", "list").splitlines()) == 1


def subject_of(tree: Path) -> str:
    return git(tree, "log", "-1", "--format=%s")


@dataclass(frozen=True)
class FakeCounter(InstructionCounter):
    """Counts by the probed commit's subject (read from its worktree), recording each commit
    measured; judged by the real instruction rule."""

    values: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)

    def measure(self, tree: Path, work: Path) -> Measured:
        subject = subject_of(tree)
        self.calls.append(subject)
        return Measured(CaseSamples(self.case.case_id, (), (self.values[subject],)), None, 1)


@dataclass(frozen=True)
class FakeTimer(WallTimer):
    """Process times by the probed commit's subject; judged by the real wall-time rule."""

    values: dict = field(default_factory=dict)

    def measure(self, tree: Path, work: Path) -> Measured:
        return Measured(CaseSamples(self.case.case_id, self.values[subject_of(tree)]))


@pytest.mark.parametrize("planted", range(2, 9))
def test_each_planted_commit_is_found_in_at_most_four_measurements(tmp_path, monkeypatch, planted):
    shas = scratch_repository_light(tmp_path / "repo")
    values = {f"change {n}": 100.0 if n < planted else 110.0 for n in range(1, 9)}
    counter = FakeCounter(parse_case("train"), 60.0, values=values)
    monkeypatch.setattr(bisect_module, "_attach_functions", lambda result: None)
    result = bisect(tmp_path / "repo", shas[0], shas[-1], counter)
    assert result.first.commit.subject == f"change {planted}"
    assert result.counts <= 4 and counter.calls[0] == "change 1"


def test_a_bad_commit_within_the_threshold_names_nothing(tmp_path):
    shas = scratch_repository_light(tmp_path / "repo")
    values = {f"change {n}": 100.0 + n * 0.1 for n in range(1, 9)}
    result = bisect(tmp_path / "repo", shas[0], shas[-1],
                    FakeCounter(parse_case("train"), 60.0, values=values))  # fmt: skip
    assert result.first is None and result.threshold == 0.03
    assert result.stopped_at.commit.subject == "change 8"
    assert result.stopped_at.verdict.outcome == NO_CHANGE


def test_an_undecided_wall_probe_stops_the_search_with_the_processes_needed(tmp_path):
    shas = scratch_repository_light(tmp_path / "repo")
    noisy = {f"change {n}": (0.04, 0.06, 0.05) for n in range(1, 9)}
    timer = FakeTimer(parse_case("train"), 3, 60.0, values=noisy)
    result = bisect(tmp_path / "repo", shas[0], shas[-1], timer)
    assert result.first is None and result.stopped_at.verdict.outcome == UNDECIDED
    assert "3 vs 3 processes" in result.stopped_at.verdict.reason


def scratch_repository_light(folder: Path) -> list[str]:
    """Eight commits holding a linreg/engines folder: enough for the search's git side."""
    (folder / "linreg" / "engines").mkdir(parents=True)
    git(folder, "init", "-q")
    git(folder, "config", "user.email", "bisect@example.com")
    git(folder, "config", "user.name", "bisect test")
    shas = []
    for number in range(1, 9):
        (folder / "linreg" / "engines" / "step.txt").write_text(f"{number}\n")
        git(folder, "add", "-A")
        git(folder, "commit", "-q", "-m", f"change {number}")
        shas.append(git(folder, "rev-parse", "HEAD"))
    return shas


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--good", "nope", "--bad", "HEAD", "--case", "train"], "--good: 'nope' is not a commit"),
        (["--good", "HEAD", "--bad", "HEAD", "--case", "train"], "--bad: is the good commit"),
        (["--good", "HEAD~1", "--bad", "HEAD", "--case", "copy"], "--case: 'copy': bisect"),
        (
            ["--good", "HEAD~1", "--bad", "HEAD", "--case", "train", "--metric", "cycles"],
            "--metric: must be instructions or wall",
        ),
        (
            ["--good", "HEAD~1", "--bad", "HEAD", "--case", "train", "--threshold", "5"],
            "--threshold: '5' is ambiguous",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    scratch_repository_light(tmp_path / "repo")
    assert main(["bisect", "--repo", str(tmp_path / "repo"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_folder_that_is_no_git_checkout_is_refused(tmp_path, capsys):
    assert main(["bisect", "--repo", str(tmp_path), "--good", "a", "--bad", "b",
                 "--case", "train"]) == 2  # fmt: skip
    assert "not a git checkout" in capsys.readouterr().err


def test_the_instruction_rule_decides_each_probe():
    counter = measurer_for(INSTRUCTIONS, parse_case("train"))
    verdict = counter.judge(CaseSamples("case", (), (100.0,)), CaseSamples("case", (), (104.0,)),
                            0.03)  # fmt: skip
    assert isinstance(verdict, CaseVerdict) and verdict.outcome == "slower"


def test_a_case_without_a_device_or_with_an_unknown_part_is_refused():
    with pytest.raises(ConfigError, match="cannot read the parameter 'bogus'"):
        parse_case("train[cpu-float32-bogus]")
    with pytest.raises(ConfigError, match="names no device"):
        parse_case("train[float32-seed42-eager]")
