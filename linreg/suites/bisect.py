"""`linreg bisect`: the first commit between a good and a bad one where a case changed.

Each probed commit is checked out in a worktree of its own (the user's checkout is left as it
is) and its code is measured from there, without installing it: the checkout's counting harness
(bench/instructions.py, one Valgrind process) runs the case with the worktree's linreg on its
path. A commit is "changed" when the instruction rule says slower or faster against the good
commit's count (beyond the threshold): the count is deterministic, so one process decides. The
bad commit is taken at its word until the search ends on it; so 2^k − 1 commits after the good
one take at most 1 + k counts (8 commits: 4).

Where a case has no instruction count (CUDA), each probe runs the case's wall time in several
processes and the wall rule decides; an undecided probe stops the search with the processes that
would decide it.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from linreg.compare.explain import FunctionChanges, function_changes
from linreg.compare.speed import (
    DEFAULT_ALPHA,
    DEFAULT_INSTRUCTION_THRESHOLD,
    DEFAULT_WALL_THRESHOLD,
    judge_instructions,
    judge_wall,
)
from linreg.config import DTYPES, ENGINES
from linreg.errors import ConfigError, LinregError
from linreg.paths import BENCH_DIR
from linreg.processes import run_bounded
from linreg.results.bench_file import case_parts
from linreg.results.bench_sessions import CaseSamples
from linreg.results.load import load_bench
from linreg.results.profiles import ProfileError, compress_dump, read_profile
from linreg.results.speed_verdict import FASTER, INSTRUCTIONS, SLOWER, UNDECIDED, WALL, CaseVerdict
from linreg.suites.bench_request import BenchRequest
from linreg.suites.bench_selection import BenchSelection

DEFAULT_TIMEOUT_S = 900.0
# A probe's limit: a count takes minutes; a day is no limit in all but name, and NaN or inf none.
MAX_TIMEOUT_S = 86_400.0
# What a commit must hold to be measured: the package the counting harness puts on the path.
_PACKAGE = "linreg/engines"
# The case a bare kind names: the quick profile's, the one CI gates on.
_QUICK = {"device": "cpu", "dtype": "float32", "seed": 42, "engine": "eager"}
_COUNTED = ("train", "threads", "inference", "epoch")


class BisectError(LinregError):
    """The bisection could not be carried out (git, a probe's measurement)."""


@dataclass(frozen=True)
class CaseSpec:
    """A benchmark case, as its pytest id names it and the counting harness rebuilds it."""

    case_id: str  # bench_<kind>.py::bench_<kind>[params]
    spec: dict

    @property
    def kind(self) -> str:
        return self.spec["kind"]


def parse_case(text: str) -> CaseSpec:
    """A case id ('bench_train.py::bench_train[cpu-float32-seed42-eager]', 'train[cpu-…]'), or
    a bare kind ('train', 'inference') for the quick profile's case of that kind."""
    raw = text.strip()
    kind, params = case_parts(raw if "[" in raw else f"{raw}[]")
    kind = kind.removeprefix("bench_")
    if kind not in _COUNTED:
        raise ConfigError("case", f"{text!r}: bisect measures {', '.join(_COUNTED)} cases")
    spec: dict = {"kind": kind, "size": None, "threads": None}
    if not params:
        spec.update(_QUICK)
        if kind in ("inference", "epoch"):
            spec["size"] = 1000
    rest = list(params)
    while rest:
        part = rest.pop(0)
        if part in ("cpu", "cuda", "mps") or part.startswith("cuda:"):
            spec["device"] = part
        elif part in DTYPES:
            spec["dtype"] = part
        elif part in ENGINES:
            spec["engine"] = part
        elif part.startswith("seed") and part[4:].isdigit():
            spec["seed"] = int(part[4:])
        elif part.startswith("n") and part[1:].isdigit():
            spec["size"] = int(part[1:])
        elif part == "threads" and rest:
            mode = rest.pop(0)
            spec["threads"] = None if mode == "all" else int(mode)
        elif part in ("adam", "sgd"):
            spec["optimizer"] = part
        elif part.startswith("momentum"):
            spec["momentum"] = float(part.removeprefix("momentum"))
        else:
            raise ConfigError("case", f"{text!r}: cannot read the parameter {part!r}")
    for key, default in _QUICK.items():
        spec.setdefault(key, default if key != "device" else None)
    if spec["device"] is None:
        raise ConfigError("case", f"{text!r}: names no device (cpu, cuda, mps)")
    ids = [spec["device"], spec["dtype"], f"seed{spec['seed']}", spec["engine"]]
    if spec["size"] is not None:
        ids.append(f"n{spec['size']}")
    case_id = f"bench_{kind}.py::bench_{kind}[{'-'.join(ids)}]" if params == () else raw
    if "::" not in case_id:
        name = case_id if case_id.startswith("bench_") else f"bench_{case_id}"
        case_id = f"bench_{kind}.py::{name}"
    return CaseSpec(case_id, spec)


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:10]


@dataclass(frozen=True)
class Measured:
    """One commit's samples of the case (an instruction count, or a median round per process),
    with its callgrind profile where it was counted."""

    samples: CaseSamples
    profile: Path | None = None
    calls: int | None = None

    @property
    def value(self) -> float:
        """Instructions per call, or the median of the processes' median rounds (seconds)."""
        return statistics.median(self.samples.instructions or self.samples.wall)


@dataclass(frozen=True)
class Probe:
    """One commit measured: its samples, its verdict against the good commit, the seconds the
    measurement took."""

    commit: Commit
    measured: Measured
    verdict: CaseVerdict | None  # None for the good commit itself
    seconds: float

    @property
    def value(self) -> float:
        return self.measured.value

    @property
    def changed(self) -> bool:
        return self.verdict is not None and self.verdict.outcome in (SLOWER, FASTER)


@dataclass
class BisectResult:
    case: CaseSpec
    metric: str
    threshold: float
    commits: list[Commit]  # after the good one, up to and including the bad one
    good: Probe | None = None
    probes: list[Probe] = field(default_factory=list)
    first: Probe | None = None  # the first changed commit
    # Where the search ended without a commit: the probe it stopped at (undecided, or the bad
    # commit not beyond the threshold).
    stopped_at: Probe | None = None
    functions: FunctionChanges | None = None
    functions_note: str = ""
    seconds: float = 0.0

    @property
    def counts(self) -> int:
        """Measurements made, the good commit's included."""
        return len(self.probes) + (self.good is not None)


class Measurer(Protocol):
    """How a probe measures a commit's code (checked out at ``tree``) and judges it."""

    metric: str

    def measure(self, tree: Path, work: Path) -> Measured: ...

    def judge(
        self, reference: CaseSamples, candidate: CaseSamples, threshold: float
    ) -> CaseVerdict: ...


# Called before each measurement with (the commit, where it lies: "good", "3 of 8"), and after
# it with the probe.
StartCallback = Callable[[Commit, str], None]
ProbeCallback = Callable[[Probe], None]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise BisectError(f"git {' '.join(args)}: {last}")
    return done.stdout.strip()


def commit_range(repo: Path, good: str, bad: str) -> tuple[Commit, list[Commit]]:
    """The good commit, and the commits after it up to the bad one (first-parent line)."""
    if shutil.which("git") is None:
        raise ConfigError("repo", "git is not installed")
    try:
        _git(repo, "rev-parse", "--git-dir")
    except BisectError:
        raise ConfigError("repo", f"{repo}: not a git checkout") from None
    shas = {}
    for name, rev in (("good", good), ("bad", bad)):
        try:
            shas[name] = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        except BisectError:
            raise ConfigError(name, f"{rev!r} is not a commit of {repo}") from None
    if shas["good"] == shas["bad"]:
        raise ConfigError("bad", "is the good commit itself: nothing to bisect")
    ancestor = subprocess.run(
        ["git", "-C", str(repo), "merge-base", "--is-ancestor", shas["good"], shas["bad"]],
        capture_output=True, check=False,
    )  # fmt: skip
    if ancestor.returncode != 0:
        raise ConfigError("good", f"{good} is not an ancestor of {bad}")
    lines = _git(repo, "log", "--first-parent", "--reverse", "--format=%H %s",
                 f"{shas['good']}..{shas['bad']}")  # fmt: skip
    commits = [Commit(*line.split(" ", 1)) if " " in line else Commit(line, "")
               for line in lines.splitlines() if line]  # fmt: skip
    subject = _git(repo, "log", "-1", "--format=%s", shas["good"])
    return Commit(shas["good"], subject), commits


def check_timeout(timeout_s: float) -> None:
    """A probe's limit in seconds: a number in (0, MAX_TIMEOUT_S]. NaN would switch it off
    (every comparison with it is false), 0 or less stop each probe as it starts."""
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, (int, float))
        or not 0 < timeout_s <= MAX_TIMEOUT_S
    ):
        raise ConfigError(
            "timeout", f"must be a number of seconds in (0, {MAX_TIMEOUT_S:.0f}], got {timeout_s}"
        )


def check_measurable(repo: Path, commits: list[Commit]) -> None:
    """Refuse, before any checkout, a range whose commits do not all hold the linreg package:
    another repository, or history from before linreg."""
    done = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch-check"],
        input="".join(f"{c.sha}:{_PACKAGE}\n" for c in commits),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    answers = [line.split() for line in done.stdout.splitlines()]  # "<oid> <type> <size>"
    for commit, answer in zip(commits, answers + [[]] * len(commits), strict=False):
        if answer[1:2] != ["tree"]:
            raise ConfigError(
                "repo",
                f"{repo}: commit {commit.short} holds no {_PACKAGE}/: not a checkout of linreg "
                "at that commit, nothing to measure",
            )


class Worktree:
    """A detached worktree of ``repo``, moved from commit to commit, removed at the end."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._tmp = Path(tempfile.mkdtemp(prefix="linreg-bisect-"))
        self.path = self._tmp / "tree"
        self._added = False

    def checkout(self, commit: Commit) -> Path:
        if not self._added:
            _git(self.repo, "worktree", "add", "--detach", "--quiet", str(self.path), commit.sha)
            self._added = True
        else:
            _git(self.path, "checkout", "--detach", "--quiet", "--force", commit.sha)
        if not (self.path / "linreg" / "engines").is_dir():
            raise BisectError(f"commit {commit.short} holds no linreg package to measure")
        return self.path

    def close(self) -> None:
        if self._added:
            subprocess.run(["git", "-C", str(self.repo), "worktree", "remove", "--force",
                            str(self.path)], capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(self._tmp, ignore_errors=True)


@dataclass(frozen=True)
class InstructionCounter:
    """Instructions per call of the case with the tree's code, by this checkout's counting
    harness in one Valgrind process: deterministic, so one count decides."""

    case: CaseSpec
    timeout_s: float
    metric: str = INSTRUCTIONS

    def measure(self, tree: Path, work: Path) -> Measured:
        work.mkdir(parents=True)
        specs = work / "specs.json"
        specs.write_text(json.dumps([self.case.spec]), encoding="utf-8")
        out = work / "counted.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = str(tree)  # the code measured is the worktree's, not this checkout's
        log = work / "count.log"
        done = run_bounded(
            [sys.executable, str(BENCH_DIR / "instructions.py"), "--count", str(specs), str(out)],
            timeout_s=self.timeout_s, env=env, log_path=log, cwd=work,
        )  # fmt: skip
        if done.exit_code != 0 or not out.is_file():
            lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise BisectError(f"counting failed ({lines[-1] if lines else done.exit_code})")
        [counted] = json.loads(out.read_text(encoding="utf-8"))["counted"]
        profile = work / "case.callgrind.gz"
        profile.write_bytes(compress_dump(Path(counted["dump"])))
        samples = CaseSamples(self.case.case_id, (), (float(counted["per_call"]),))
        return Measured(samples, profile, int(counted["calls"]))

    def judge(
        self, reference: CaseSamples, candidate: CaseSamples, threshold: float
    ) -> CaseVerdict:
        [verdict] = judge_instructions({"case": reference}, {"case": candidate}, threshold)
        return verdict


@dataclass(frozen=True)
class WallTimer:
    """The case's median round in each of ``processes`` processes of the tree's bench suite,
    judged by the wall-time rule (for cases without counts, e.g. on CUDA)."""

    case: CaseSpec
    processes: int
    timeout_s: float
    metric: str = WALL

    def measure(self, tree: Path, work: Path) -> Measured:
        work.mkdir(parents=True)
        spec = self.case.spec
        selection = BenchSelection(
            devices=(spec["device"],), dtypes=(spec["dtype"],), seeds=(spec["seed"],),
            engines=(spec["engine"],), kinds=(self.case.kind,),
            sizes=None if spec["size"] is None else (spec["size"],),
        )  # fmt: skip
        request = BenchRequest(selection, instructions="no")
        env = dict(os.environ)
        env["PYTHONPATH"] = str(tree)
        medians = []
        for index in range(self.processes):
            out = work / f"process-{index}.json"
            done = run_bounded(
                [sys.executable, "-m", "pytest", str(tree / "bench"), *request.pytest_args(),
                 "-q", "-p", "no:cacheprovider", f"--benchmark-json={out}"],
                timeout_s=self.timeout_s, env=env, cwd=tree, log_path=work / "bench.log",
            )  # fmt: skip
            if done.exit_code != 0 or not out.is_file():
                raise BisectError(f"the bench suite failed (pytest exit {done.exit_code})")
            found = [c for c in load_bench(out).cases if c.fullname.endswith(_bracket(self.case))]
            if not found:
                raise BisectError(f"the bench suite at this commit has no case {self.case.case_id}")
            medians.append(statistics.median(found[0].rounds))
        return Measured(CaseSamples(self.case.case_id, tuple(medians)))

    def judge(
        self, reference: CaseSamples, candidate: CaseSamples, threshold: float
    ) -> CaseVerdict:
        [verdict] = judge_wall({"case": reference}, {"case": candidate}, threshold, DEFAULT_ALPHA)
        return verdict


def measurer_for(
    metric: str, case: CaseSpec, processes: int = 8, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Measurer:
    """The measurer of ``metric``, its options checked."""
    check_timeout(timeout_s)
    if metric == INSTRUCTIONS:
        if case.spec["device"] != "cpu":
            raise ConfigError("metric", "instructions are counted on the cpu only; --metric wall")
        return InstructionCounter(case, timeout_s)
    if metric == WALL:
        if not 2 <= processes <= 100:
            raise ConfigError("processes", f"must be in [2, 100] for a wall-time verdict, got "
                                           f"{processes}")  # fmt: skip
        return WallTimer(case, processes, timeout_s)
    raise ConfigError("metric", f"must be instructions or wall, got {metric!r}")


def _bracket(case: CaseSpec) -> str:
    return case.case_id[case.case_id.index("[") :] if "[" in case.case_id else ""


def bisect(
    repo: Path,
    good: str,
    bad: str,
    measurer: Measurer,
    threshold: float | None = None,
    on_start: StartCallback | None = None,
    on_probe: ProbeCallback | None = None,
) -> BisectResult:
    """The first commit after ``good`` up to ``bad`` where the case changed beyond the
    threshold (default: the gate's, by metric), by binary search over the first-parent line."""
    started = time.perf_counter()
    metric, case = measurer.metric, measurer.case
    threshold = threshold if threshold is not None else (
        DEFAULT_INSTRUCTION_THRESHOLD if metric == INSTRUCTIONS else DEFAULT_WALL_THRESHOLD
    )  # fmt: skip
    good_commit, commits = commit_range(Path(repo), good, bad)
    check_measurable(Path(repo), [good_commit, *commits])
    result = BisectResult(case, metric, threshold, commits)
    tree = Worktree(Path(repo))
    work = Path(tempfile.mkdtemp(prefix="linreg-bisect-work-"))

    def probe(commit: Commit, where: str, reference: CaseSamples | None) -> Probe:
        if on_start is not None:
            on_start(commit, where)
        began = time.perf_counter()
        measured = measurer.measure(tree.checkout(commit), work / commit.sha)
        verdict = None if reference is None else measurer.judge(reference, measured.samples,
                                                                 threshold)  # fmt: skip
        found = Probe(commit, measured, verdict, time.perf_counter() - began)
        if on_probe is not None:
            on_probe(found)
        return found

    try:
        result.good = probe(good_commit, "good", None)
        reference = result.good.measured.samples
        lo, hi = 0, len(commits) - 1  # commits[hi] is taken to be changed
        measured: dict[int, Probe] = {}

        def probe_at(index: int) -> Probe:
            found = probe(commits[index], f"{index + 1} of {len(commits)}", reference)
            measured[index] = found
            result.probes.append(found)
            return found

        while lo < hi:
            middle = (lo + hi) // 2
            found = probe_at(middle)
            if found.verdict is not None and found.verdict.outcome == UNDECIDED:
                result.stopped_at = found
                break
            if found.changed:
                hi = middle
            else:
                lo = middle + 1
        if result.stopped_at is None:
            last = measured[lo] if lo in measured else probe_at(lo)
            if last.changed:
                result.first = last
            else:
                result.stopped_at = last
        if result.first is not None and metric == INSTRUCTIONS:
            _attach_functions(result)
    finally:
        tree.close()
        shutil.rmtree(work, ignore_errors=True)
        result.seconds = time.perf_counter() - started
    return result


def _attach_functions(result: BisectResult) -> None:
    good, first = result.good.measured, result.first.measured
    try:
        changes = function_changes(read_profile(good.profile, good.calls),
                                   read_profile(first.profile, first.calls))  # fmt: skip
    except ProfileError as exc:
        result.functions_note = f"no function list: {exc}"
        return
    result.functions = changes
    result.functions_note = changes.note
