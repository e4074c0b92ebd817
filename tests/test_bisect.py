"""`linreg bisect`: the commit that changed a case, found by a search in rounds over each
probed commit's own bench suite, in worktrees (nothing installed), its probes kept as bench
result sets that `linreg explain` reads."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linreg.cli import main
from linreg.errors import ConfigError
from linreg.results.bench_sessions import CaseSamples
from linreg.results.speed_verdict import (
    INSTRUCTIONS,
    NO_CHANGE,
    OPS,
    SLOWER,
    UNDECIDED,
    WALL,
    CaseVerdict,
)
from linreg.suites.bisect import (
    BenchMeasurer,
    Measured,
    bisect,
    measurer_for,
    parse_case,
    probe_points,
)
from tests.op_count_files import STEP, op_record
from tests.real_bisect import COMMITS, PLANTED_AT, git, real_bisect


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind (callgrind)")
def test_bisect_names_the_commit_its_ops_and_line_and_keeps_result_sets_explain_reads(
    request, capsys
):
    found = real_bisect(request)
    assert found.exit_code == 0, found.printed[-2000:]
    shas, printed = found.shas, found.printed
    assert f"first commit beyond 3%: {shas[PLANTED_AT - 1][:10]} 'change {PLANTED_AT}'" in printed
    rows = [" ".join(line.split()) for line in printed.splitlines()]
    # The planted ops, three a step each, at the planted line of the eager loop.
    row = f"aten::exp 0 → 3 +3 linreg/engines/eager.py:{found.planted_line} loop"
    assert row in rows
    assert printed.index("aten::exp") < printed.index("inclusive: with what they called")
    [summary] = [text for text in printed.splitlines() if text.startswith("bisect: OK")]
    assert "in 2 rounds" in summary and " s" in summary.split("rounds, ")[1]
    # The user's checkout is left as it was: no worktree stays registered.
    assert len(git(found.repo, "worktree", "list").splitlines()) == 1
    # Each probe is a bench result set: explain reads the good one against the named one.
    kept = sorted(p.name for p in found.probes.iterdir())
    assert kept == sorted(sha[:10] for sha in shas[:COMMITS])
    assert main(["explain", str(found.probe(1)), str(found.probe(PLANTED_AT)),
                 "--case", "train", "--top", "3"]) == 0  # fmt: skip
    explained = " ".join(capsys.readouterr().out.split())
    assert row in explained
    assert "THPVariable_sum" in explained


def subject_of(tree: Path) -> str:
    return git(tree, "log", "-1", "--format=%s")


@dataclass(frozen=True)
class Fake(BenchMeasurer):
    """Measures by the probed commit's subject (read from its worktree), recording each round;
    judged by the real rule of its metric."""

    values: dict = field(default_factory=dict)
    rounds: list = field(default_factory=list)

    def measure(self, sides):
        self.rounds.append([subject_of(side.tree) for side in sides])
        return [self._measured(subject_of(side.tree)) for side in sides]

    def _measured(self, subject: str) -> Measured:
        value = self.values[subject]
        if self.metric == INSTRUCTIONS:
            return Measured(CaseSamples(self.case.case_id, (), (value,)))
        if self.metric == OPS:
            return Measured(CaseSamples(self.case.case_id, (0.04,), ops=(value,)))
        return Measured(CaseSamples(self.case.case_id, value))


def fake(metric: str, values: dict, processes: int = 1) -> Fake:
    together = 1 if metric == WALL else 2
    return Fake(parse_case("train"), metric, 60.0, processes, together=together, values=values)


@pytest.mark.parametrize("planted", range(2, 9))
def test_each_planted_commit_is_found_in_three_rounds_the_ends_measured_at_once(tmp_path, planted):
    shas = scratch_repository_light(tmp_path / "repo")
    values = {f"change {n}": 100.0 if n < planted else 110.0 for n in range(1, 9)}
    counter = fake(INSTRUCTIONS, values)
    result = bisect(tmp_path / "repo", shas[0], shas[-1], counter)
    assert result.first.commit.subject == f"change {planted}"
    assert counter.rounds[0] == ["change 1", "change 8"]  # the good and the bad end at once
    assert result.rounds == len(counter.rounds) <= 3
    assert all(len(sides) <= 2 for sides in counter.rounds)


@given(st.integers(0, 200), st.integers(1, 4))
def test_a_round_s_probes_split_the_range_so_that_each_part_is_as_small_as_it_can_be(lo, together):
    for possible in range(2, 40):
        hi = lo + possible - 1
        points = probe_points(lo, hi, together)
        assert points == sorted(set(points)) and all(lo <= p < hi for p in points)
        parts = [b - a for a, b in zip([lo - 1, *points], [*points, hi], strict=True)]
        assert sum(parts) == possible and max(parts) == math.ceil(possible / (len(points) + 1))


def test_the_ops_metric_names_the_commit_that_added_ops(tmp_path):
    shas = scratch_repository_light(tmp_path / "repo")
    clean = op_record()
    planted = op_record((*STEP, ("aten::exp", "sitecustomize.py", 12, "_planted_step", 2)))
    values = {f"change {n}": clean if n < 4 else planted for n in range(1, 9)}
    result = bisect(tmp_path / "repo", shas[0], shas[-1], fake(OPS, values))
    assert result.first.commit.subject == "change 4" and result.threshold == 0
    assert result.first.verdict.metric == OPS and result.first.verdict.outcome == SLOWER
    assert [d.op for d in result.ops.added] == ["aten::exp"]


def test_a_bad_commit_within_the_threshold_names_nothing(tmp_path):
    shas = scratch_repository_light(tmp_path / "repo")
    values = {f"change {n}": 100.0 + n * 0.1 for n in range(1, 9)}
    counter = fake(INSTRUCTIONS, values)
    result = bisect(tmp_path / "repo", shas[0], shas[-1], counter)
    assert result.first is None and result.threshold == 0.03
    assert result.stopped_at.commit.subject == "change 8"
    assert result.stopped_at.verdict.outcome == NO_CHANGE
    assert len(counter.rounds) == 1  # the bad end said so in the first round


def test_each_wall_probe_runs_interleaved_with_the_good_commit_s_processes(tmp_path):
    shas = scratch_repository_light(tmp_path / "repo")
    noisy = {f"change {n}": (0.04, 0.06, 0.05) for n in range(1, 9)}
    timer = fake(WALL, noisy, processes=3)
    result = bisect(tmp_path / "repo", shas[0], shas[-1], timer)
    assert timer.rounds == [["change 1", "change 8"]]  # the good commit beside the probe
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
            "--metric: must be instructions, ops or wall",
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
    verdict = counter.judge(Measured(CaseSamples("case", (), (100.0,))),
                            Measured(CaseSamples("case", (), (104.0,))), 0.03)  # fmt: skip
    assert isinstance(verdict, CaseVerdict) and verdict.outcome == "slower"


def test_instructions_are_refused_for_a_cuda_case_and_ops_are_not():
    case = parse_case("train[cuda-float32-seed42-eager]")
    with pytest.raises(ConfigError, match="--metric ops"):
        measurer_for(INSTRUCTIONS, case)
    assert measurer_for(OPS, case).metric == OPS


def test_an_out_folder_that_holds_files_is_refused(tmp_path, capsys):
    shas = scratch_repository_light(tmp_path / "repo")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("x")
    assert main(["bisect", "--repo", str(tmp_path / "repo"), "--good", shas[0], "--bad",
                 shas[-1], "--case", "train", "--out", str(tmp_path / "out")]) == 2  # fmt: skip
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "--out:" in line and "not an empty folder" in line


def test_a_case_without_a_device_or_with_an_unknown_part_is_refused():
    with pytest.raises(ConfigError, match="cannot read the parameter 'bogus'"):
        parse_case("train[cpu-float32-bogus]")
    with pytest.raises(ConfigError, match="names no device"):
        parse_case("train[float32-seed42-eager]")


def test_a_wall_probe_left_undecided_whose_ops_changed_says_the_ops_would_decide():
    from linreg.cli.bisect_cmd import _why_none
    from linreg.compare.speed import case_ops
    from linreg.suites.bisect import BisectResult, Commit, Probe

    clean = CaseSamples("case", (0.04,), ops=(op_record(),))
    planted = CaseSamples(
        "case", (0.05,), ops=(op_record((*STEP, ("aten::exp", "f.py", 3, "g", 1))),)
    )
    verdict = CaseVerdict("case", WALL, UNDECIDED, 0.04, 0.05, (3, 3), 1.25, 0.1,
                          reason="3 vs 3 processes", ops=case_ops(clean, planted))  # fmt: skip
    probe = Probe(Commit("b" * 40, "change 8"), Measured(planted), verdict, 1.0)
    result = BisectResult(parse_case("train"), WALL, 0.1, [], stopped_at=probe)
    said = _why_none(result, "good", "bad")
    assert "+1 aten::exp" in said and said.endswith("--metric ops decides")
