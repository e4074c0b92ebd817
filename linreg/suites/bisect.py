"""`linreg bisect`: the first commit between a good and a bad one where a case changed.

Each probed commit is checked out in a worktree of its own (the user's checkout is left as it
is) and measured from there, without installing it: the commit's own bench suite runs the case
with the commit's linreg on its path, as `linreg bench --quick` would at that commit, and what
it stores is kept as a bench result set under ``out`` (``<out>/<commit>/<machine>/…``: its
pytest-benchmark file with the instruction count, the callgrind profile and the op counts), so
that `linreg explain`, `compare` and `history` read the probes afterwards.

Three metrics, each judged against the good commit by the gate's rule:
- instructions (CPU): one bench process a commit, counted in one Valgrind process; the count is
  deterministic, so one process decides (beyond the threshold: changed);
- ops (any device): one bench process a commit, its op counts (no Valgrind); exact, so any op a
  step makes more or less often is a change;
- wall: several processes a commit, interleaved with as many of the good commit's (A B A B …),
  so that the two sides share the machine's drift and the wall rule can decide; an undecided
  probe stops the search with the processes that would decide it.

Counts do not depend on what else the machine runs, so the good and the bad commit are measured
at once (two processes, two cores), and so are the search's probes, two a round, which split
the range in three: eight commits after the good one take three rounds (the ends, then two).
Wall time is measured one probe at a time, interleaved with the good commit's processes.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from linreg.compare.explain import FunctionChanges, function_changes
from linreg.compare.explain_cases import case_tables, with_moved_inside
from linreg.compare.speed import (
    DEFAULT_ALPHA,
    DEFAULT_INSTRUCTION_THRESHOLD,
    DEFAULT_WALL_THRESHOLD,
    case_ops,
    interleaved,
    judge_instructions,
    judge_ops,
    judge_wall,
    with_ops,
)
from linreg.config import DTYPES, ENGINES
from linreg.errors import ConfigError, LinregError
from linreg.processes import Job, run_bounded, run_bounded_together
from linreg.results import kinds
from linreg.results.bench_file import case_parts
from linreg.results.bench_sessions import BenchSession, CaseSamples, session_samples, sessions
from linreg.results.load import load_bench
from linreg.results.op_changes import OpEvidence
from linreg.results.profiles import ProfileError
from linreg.results.speed_verdict import (
    FASTER,
    INSTRUCTIONS,
    OPS,
    SLOWER,
    UNDECIDED,
    WALL,
    CaseVerdict,
)
from linreg.results.walk import result_files
from linreg.suites.bench_request import BenchRequest, process_env
from linreg.suites.bench_selection import TARGET_KINDS, BenchSelection

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


def parse_case(text: str, target: str | None = None) -> CaseSpec:
    """A case id ('bench_train.py::bench_train[cpu-float32-seed42-eager]', 'train[cpu-…]'), or
    a bare kind ('train', 'inference') for the quick profile's case of that kind; with
    ``target`` (its spec), a target case ('target_step[mlp-3f9a1c2b4d5e-ci-cpu-float32-seed42-
    eager]', or a bare 'target_step')."""
    raw = text.strip()
    kind, params = case_parts(raw if "[" in raw else f"{raw}[]")
    kind = kind.removeprefix("bench_")
    if kind in TARGET_KINDS or target is not None:
        return _target_case(text, kind, params, target)
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
        if _common_param(spec, part):
            continue
        if part.startswith("n") and part[1:].isdigit():
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


def _common_param(spec: dict, part: str) -> bool:
    """Read a device, dtype, engine or seed part of a case id into ``spec``; False for any other."""
    if part in ("cpu", "cuda", "mps") or part.startswith("cuda:"):
        spec["device"] = part
    elif part in DTYPES:
        spec["dtype"] = part
    elif part in ENGINES:
        spec["engine"] = part
    elif part.startswith("seed") and part[4:].isdigit():
        spec["seed"] = int(part[4:])
    else:
        return False
    return True


def _target_case(text: str, kind: str, params: tuple, target: str | None) -> CaseSpec:
    """A target case: its id names the target, its code hash and size, then the axes. The
    target is loaded here (by spec, a file's path made absolute: each commit's suite runs in
    its own tree) for its hash, which the id must hold: a case of another version is refused."""
    from linreg.target_loading import load_target

    if target is None:
        raise ConfigError("case", f"{text!r}: a target's case; give --target too")
    if kind not in TARGET_KINDS:
        raise ConfigError("case", f"{text!r}: with --target, bisect measures "
                          f"{', '.join(TARGET_KINDS)} cases")  # fmt: skip
    location, colon, name = target.rpartition(":")
    if colon and (location.endswith(".py") or "/" in location):
        target = f"{Path(location).resolve()}:{name}"
    elif target.endswith(".py"):
        target = str(Path(target).resolve())
    loaded, ref = load_target(target)
    size = "ci"
    spec: dict = {"kind": kind, "size": None, "threads": None, **_QUICK, "target_spec": target,
                  "code_hash": ref.code_hash}  # fmt: skip
    rest = list(params)
    if rest:
        if rest[:2] != [ref.name, ref.short_hash] or len(rest) < 3:
            raise ConfigError("case", f"{text!r}: not a case of {ref.name} at code hash "
                              f"{ref.short_hash} (its cases: {kind}[{ref.name}-"
                              f"{ref.short_hash}-SIZE-…])")  # fmt: skip
        size, rest = rest[2], rest[3:]
        for part in rest:
            if not _common_param(spec, part):
                raise ConfigError("case", f"{text!r}: cannot read the parameter {part!r}")
    if size not in loaded.sizes:
        raise ConfigError("case", f"{text!r}: {ref.name} has no size {size!r}")
    spec["target_size"] = size
    ids = [ref.name, ref.short_hash, size, spec["device"], spec["dtype"], f"seed{spec['seed']}",
           spec["engine"]]  # fmt: skip
    return CaseSpec(f"bench_target.py::bench_{kind}[{'-'.join(ids)}]", spec)


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:10]


@dataclass(frozen=True)
class Measured:
    """One commit's measurement of the case: its samples (an instruction count, op counts, a
    median round per process), the bench session they were read from and the folder it was
    kept in (None for a measurement made without the bench suite)."""

    samples: CaseSamples
    session: BenchSession | None = None
    folder: Path | None = None

    def value(self, metric: str) -> float:
        """What ``metric`` judges: instructions per call, all ops a step, or the median of the
        processes' median rounds (seconds); NaN where the measurement holds none."""
        if metric == INSTRUCTIONS:
            found = self.samples.instructions
            return statistics.median(found) if found else math.nan
        if metric == OPS:
            if not self.samples.ops:
                return math.nan
            first = self.samples.ops[0]
            return sum(count.calls for count in first.ops) / first.steps_counted
        return statistics.median(self.samples.wall) if self.samples.wall else math.nan


@dataclass(frozen=True)
class Probe:
    """One commit measured: its measurement, its verdict against the good commit's
    (``reference``: the good commit's measurement it was judged against, for wall time the
    processes interleaved with it), the seconds its round took."""

    commit: Commit
    measured: Measured
    verdict: CaseVerdict | None  # None for the good commit itself
    seconds: float
    reference: Measured | None = None

    @property
    def changed(self) -> bool:
        return self.verdict is not None and self.verdict.outcome in (SLOWER, FASTER)


@dataclass
class BisectResult:
    case: CaseSpec
    metric: str
    threshold: float
    commits: list[Commit]  # after the good one, up to and including the bad one
    out: Path | None = None  # where the probes' result sets are kept
    good: Probe | None = None
    probes: list[Probe] = field(default_factory=list)
    first: Probe | None = None  # the first changed commit
    # Where the search ended without a commit: the probe it stopped at (undecided, or the bad
    # commit not beyond the threshold).
    stopped_at: Probe | None = None
    functions: FunctionChanges | None = None
    functions_note: str = ""
    ops: OpEvidence | None = None  # the first commit's op counts against the good commit's
    ops_note: str = ""
    rounds: int = 0  # measurements made one after the other (each of one or more commits)
    seconds: float = 0.0

    @property
    def counts(self) -> int:
        """Commits measured, the good commit's included (for wall time, once: the processes
        interleaved with each probe are part of that probe's measurement)."""
        return len(self.probes) + (self.good is not None)


@dataclass(frozen=True)
class Side:
    """A commit to measure: checked out at ``tree``, its result set kept under ``folder``."""

    commit: Commit
    tree: Path
    folder: Path


class Measurer(Protocol):
    """How commits' code is measured and judged. ``measure`` takes the sides of one round and
    gives each its measurement: at once (counts), or interleaved (wall time, whose rounds hold
    the good commit beside one probe: ``fresh_reference``); ``together``: probes a round."""

    metric: str
    case: CaseSpec
    together: int
    fresh_reference: bool

    def measure(self, sides: Sequence[Side]) -> list[Measured]: ...

    def judge(self, reference: Measured, candidate: Measured, threshold: float) -> CaseVerdict: ...


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
class BenchMeasurer:
    """The case by each commit's own bench suite (its quick profile, one case selected), kept
    as a bench result set: ``metric`` says what is counted and what decides. Counts
    (instructions, ops): one process a commit, ``together`` commits at once. Wall time:
    ``processes`` processes a side, interleaved with the good commit's."""

    case: CaseSpec
    metric: str
    timeout_s: float
    processes: int = 1
    machine: str | None = None
    together: int = 2

    @property
    def fresh_reference(self) -> bool:
        return self.metric == WALL

    def measure(self, sides: Sequence[Side]) -> list[Measured]:
        session = kinds.utc_stamp()
        if self.metric == WALL:
            # A B A B …: each process of each side in turn, so both meet the same drift.
            for index in range(self.processes):
                for side in sides:
                    done = run_bounded(
                        self._command(side), timeout_s=self.timeout_s, cwd=side.tree,
                        env=self._env(side, session, index), log_path=self._log(side),
                    )  # fmt: skip
                    self._check(side, done.exit_code)
        else:
            jobs = [Job(self._command(s), s.tree, self._env(s, session, 0), self._log(s))
                    for s in sides]  # fmt: skip
            for side, done in zip(sides, run_bounded_together(jobs, timeout_s=self.timeout_s),
                                  strict=True):  # fmt: skip
                self._check(side, done.exit_code)
        return [self._read(side) for side in sides]

    def judge(self, reference: Measured, candidate: Measured, threshold: float) -> CaseVerdict:
        ref, cand = {"case": reference.samples}, {"case": candidate.samples}
        if self.metric == INSTRUCTIONS:
            found = judge_instructions(ref, cand, threshold)
        elif self.metric == OPS:
            found = judge_ops(ref, cand)
        else:
            together = (reference.session is not None and candidate.session is not None
                        and interleaved(reference.session, candidate.session))  # fmt: skip
            found = judge_wall(ref, cand, threshold, DEFAULT_ALPHA, interleaved=together)
        if not found:
            raise BisectError(f"no {self.metric} on both sides to judge {self.case.case_id} by "
                              f"({_what_is_missing(self.metric)})")  # fmt: skip
        [verdict] = with_ops(found, ref, cand)
        return verdict

    def _command(self, side: Side) -> list[str]:
        spec = self.case.spec
        selection = BenchSelection(
            devices=(spec["device"],), dtypes=(spec["dtype"],), seeds=(spec["seed"],),
            engines=(spec["engine"],), kinds=(self.case.kind,),
            sizes=None if spec["size"] is None else (spec["size"],), quick=True,
            optimizers=(spec.get("optimizer") or "sgd",),
            momentums=(float(spec.get("momentum") or 0.0),),
            target=spec.get("target_spec"), target_size=spec.get("target_size") or "ci",
        )  # fmt: skip
        counted = "yes" if self.metric == INSTRUCTIONS else "no"
        request = BenchRequest(selection, instructions=counted, machine=self.machine)
        return [
            sys.executable, "-m", "pytest", str(side.tree / "bench"), *request.pytest_args(),
            f"--benchmark-storage=file://{side.folder.resolve()}", "--benchmark-autosave",
            "-q", "-p", "no:cacheprovider",
        ]  # fmt: skip

    def _env(self, side: Side, session: str, index: int) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(side.tree)  # the code measured is the commit's, not this one's
        # One counting process a side: instructions and ops are the same in every process.
        return process_env(env, f"{session}-{side.commit.short}", index, count=index == 0)

    def _log(self, side: Side) -> Path:
        side.folder.mkdir(parents=True, exist_ok=True)
        return side.folder / "bench.log"

    def _check(self, side: Side, exit_code: int) -> None:
        if exit_code != 0:
            lines = self._log(side).read_text(encoding="utf-8", errors="replace").splitlines()
            last = next((line for line in reversed(lines) if line.strip()), "")
            raise BisectError(
                f"the bench suite at {side.commit.short} failed (pytest exit {exit_code}: "
                f"{last.strip()[:160]}); see {self._log(side)}"
            )

    def _read(self, side: Side) -> Measured:
        files = [load_bench(path) for path in result_files(side.folder) if path.suffix == ".json"]
        found = sessions(f for f in files if any(_is_case(c.fullname, self.case) for c in f.cases))
        if not found:
            raise BisectError(f"the bench suite at {side.commit.short} stored no case "
                              f"{self.case.case_id} (see {self._log(side)})")  # fmt: skip
        session = found[-1]  # the newest: this round's
        samples = session_samples(session)
        name = next(n for n in sorted(samples) if _is_case(n, self.case))
        return Measured(samples[name], session, side.folder)


def _is_case(fullname: str, case: CaseSpec) -> bool:
    return fullname == case.case_id or fullname.endswith(_bracket(case))


def _what_is_missing(metric: str) -> str:
    return {
        INSTRUCTIONS: "Valgrind counts instructions of CPU cases only; --metric ops or wall",
        OPS: "this commit's bench suite counts no ops; --metric instructions or wall",
    }.get(metric, "no process finished the case")


def measurer_for(
    metric: str,
    case: CaseSpec,
    processes: int = 8,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    machine: str | None = None,
) -> Measurer:
    """The measurer of ``metric``, its options checked."""
    check_timeout(timeout_s)
    if metric == INSTRUCTIONS:
        if case.spec["device"] != "cpu":
            raise ConfigError("metric", "instructions are counted on the cpu only; --metric ops "
                                        "(any device) or wall")  # fmt: skip
        return BenchMeasurer(case, INSTRUCTIONS, timeout_s, machine=machine)
    if metric == OPS:
        return BenchMeasurer(case, OPS, timeout_s, machine=machine)
    if metric == WALL:
        if not 2 <= processes <= 100:
            raise ConfigError("processes", f"must be in [2, 100] for a wall-time verdict, got "
                                           f"{processes}")  # fmt: skip
        return BenchMeasurer(case, WALL, timeout_s, processes, machine, together=1)
    raise ConfigError("metric", f"must be instructions, ops or wall, got {metric!r}")


def _bracket(case: CaseSpec) -> str:
    return case.case_id[case.case_id.index("[") :] if "[" in case.case_id else ""


def check_out_folder(out: Path) -> None:
    """The folder the probes' result sets go to: new, or empty."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError("out", f"{out} exists and is not an empty folder; results are never "
                                 "overwritten")  # fmt: skip


def probe_points(lo: int, hi: int, together: int) -> list[int]:
    """Up to ``together`` commits to probe in one round, where the first changed commit lies in
    [lo, hi] and ``hi`` is known to be changed: the points that split the range most evenly."""
    possible = hi - lo + 1
    points = {lo + math.ceil(i * possible / (together + 1)) - 1 for i in range(1, together + 1)}
    return sorted(p for p in points if lo <= p < hi)


def bisect(
    repo: Path,
    good: str,
    bad: str,
    measurer: Measurer,
    threshold: float | None = None,
    on_start: StartCallback | None = None,
    on_probe: ProbeCallback | None = None,
    out: Path | None = None,
) -> BisectResult:
    """The first commit after ``good`` up to ``bad`` where the case changed beyond the
    threshold (default: the gate's, by metric), over the first-parent line; the probes' result
    sets kept under ``out`` (None: a temporary folder, removed after)."""
    started = time.perf_counter()
    metric, case = measurer.metric, measurer.case
    if threshold is None:
        threshold = {INSTRUCTIONS: DEFAULT_INSTRUCTION_THRESHOLD, OPS: 0.0}.get(
            metric, DEFAULT_WALL_THRESHOLD
        )
    good_commit, commits = commit_range(Path(repo), good, bad)
    check_measurable(Path(repo), [good_commit, *commits])
    if out is not None:
        check_out_folder(Path(out))
    result = BisectResult(case, metric, threshold, commits, Path(out) if out else None)
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="linreg-bisect-"))
    trees: list[Worktree] = []

    def measure(points: list[int]) -> list[Probe]:
        """One round: the commits at ``points`` (-1: the good one), each judged against the
        good commit's measurement, or (wall time) against the good commit's processes
        interleaved with it in this round."""
        plan = [(i, good_commit if i < 0 else commits[i]) for i in points]
        fresh = measurer.fresh_reference
        needed = len(plan) + fresh
        while len(trees) < needed:
            trees.append(Worktree(Path(repo)))
        sides = []
        if fresh:
            name = f"{good_commit.short}-with-{plan[0][1].short}"
            sides.append(Side(good_commit, trees[0].checkout(good_commit), folder / name))
        for tree, (_, commit) in zip(trees[fresh:], plan, strict=False):
            sides.append(Side(commit, tree.checkout(commit), folder / commit.short))
        for i, commit in plan:
            if on_start is not None:
                on_start(commit, _where(i, len(commits)))
        began = time.perf_counter()
        measured = measurer.measure(sides)
        took = time.perf_counter() - began
        result.rounds += 1
        reference = measured[0] if fresh else None
        probes = []
        for (i, commit), found in zip(plan, measured[fresh:], strict=True):
            if i < 0:
                probe = Probe(commit, found, None, took)
                result.good = probe
            else:
                against = reference if reference is not None else result.good.measured
                probe = Probe(commit, found, measurer.judge(against, found, threshold), took,
                              against)  # fmt: skip
                result.probes.append(probe)
            if on_probe is not None:
                on_probe(probe)
            probes.append(probe)
        return probes

    try:
        last = len(commits) - 1
        if measurer.fresh_reference:
            # The good commit's processes come with each probe; the bad end first.
            [bad_probe] = measure([last])
            result.good = Probe(good_commit, bad_probe.reference, None, bad_probe.seconds)
        else:
            _, bad_probe = measure([-1, last])
        probed = {last: bad_probe}
        if not bad_probe.changed:
            result.stopped_at = bad_probe
        lo, hi = 0, last  # the first changed commit lies in [lo, hi]; hi is changed
        while result.stopped_at is None and lo < hi:
            points = probe_points(lo, hi, measurer.together)
            found = dict(zip(points, measure(points), strict=True))
            probed.update(found)
            undecided = [found[i] for i in points if found[i].verdict.outcome == UNDECIDED]
            if undecided:
                result.stopped_at = undecided[0]
                break
            changed = [i for i in points if found[i].changed]
            if changed:
                hi = changed[0]
            kept = [i for i in points if not found[i].changed and i < hi]
            if kept:
                lo = max(kept) + 1
        if result.stopped_at is None:
            result.first = probed[hi]
            _explain_first(result)
    finally:
        for tree in trees:
            tree.close()
        if out is None:
            shutil.rmtree(folder, ignore_errors=True)
        result.seconds = time.perf_counter() - started
    return result


def _where(index: int, commits: int) -> str:
    return "good" if index < 0 else "bad" if index == commits - 1 else f"{index + 1} of {commits}"


def _explain_first(result: BisectResult) -> None:
    """The named commit's changed ops and, where both sides kept profiles, its function list,
    each against the good commit's measurement it was judged against."""
    first = result.first
    reference = first.reference or result.good.measured
    ops = case_ops(reference.samples, first.measured.samples)
    if ops is None:
        result.ops_note = "no op list: a side counted no ops (its bench suite predates them)"
    if reference.session is None or first.measured.session is None:
        result.ops = ops
        return
    try:
        ref, cand = case_tables(
            reference.session, first.measured.session, first.measured.samples.case
        )
    except ProfileError as exc:
        result.ops = ops
        if result.metric == INSTRUCTIONS:
            result.functions_note = f"no function list: {exc}"
        return
    result.functions = function_changes(ref, cand)
    result.functions_note = result.functions.note
    result.ops = with_moved_inside(ops, ref, cand)
