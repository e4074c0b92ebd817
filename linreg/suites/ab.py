"""Same-machine A/B of two stacks: the upgrade question ("is torch X slower, or different, than
torch Y here?"), or a base branch against a pull request.

Each side is a stack: a Python interpreter (with its torch and linreg's dependencies) and a
linreg checkout (its bench/ suite and its code). Benchmark processes run interleaved, A B A B …,
so that a machine's drift (thermal, other tenants) lands on both sides alike; each process is
one sample, instruction counts come from each side's first process. Then each side runs the
repro matrix, and the two matrices are compared run by run. Everything is written under one
folder as result sets the report reads, with the speed verdict and the numeric verdict.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from linreg.compare.explain_cases import explained
from linreg.compare.runs import compare_runs
from linreg.compare.speed import judge_sessions
from linreg.errors import ConfigError, LinregError
from linreg.processes import run_bounded
from linreg.results import kinds
from linreg.results.ab_result import (
    NOT_RUN,
    ROLES,
    AbPair,
    AbResult,
    NumericVerdict,
    StackDifference,
    StackInfo,
    build_flavour,
)
from linreg.results.bench_sessions import newest_per_machine
from linreg.results.files import check_new_folder, write_json_new
from linreg.results.resultset import load_result_set
from linreg.results.speed_verdict import SpeedVerdict
from linreg.suites.bench_request import BenchRequest, process_env
from linreg.suites.bench_selection import BenchSelection
from linreg.tolerance import default_tolerances

# Called with a line saying what just finished, for progress.
ProgressCallback = Callable[[str], None]
# Called once both stacks have described themselves, before the first benchmark process.
StacksCallback = Callable[[StackDifference], None]


# Run by each stack's own Python: what it is, without linreg (the stack's checkout may be older).
_PROBE = (
    "import json, sys, torch; v = torch.version; print(json.dumps([sys.version.split()[0], "
    "torch.__version__, v.cuda, getattr(v, 'hip', None), getattr(v, 'xpu', None)]))"
)


@dataclass(frozen=True)
class Stack:
    role: str
    python: Path
    root: Path  # a linreg checkout: its bench/ suite and its linreg/ package are used

    def check(self) -> None:
        if not self.python.is_file() or not os.access(self.python, os.X_OK):
            raise ConfigError(f"{self.role}_python", f"{self.python}: no such interpreter")
        if not (self.root / "bench" / "conftest.py").is_file():
            raise ConfigError(
                f"{self.role}_root", f"{self.root}: not a linreg checkout (no bench/)"
            )

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.root)
        return env

    def describe(self) -> StackInfo:
        """The stack's interpreter, checkout and torch (its version and build), as it reports
        them itself."""
        probe = subprocess.run(
            [str(self.python), "-c", _PROBE],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(f"{self.role}_python", f"{self.python} cannot import torch: {last}")
        try:
            python, torch, cuda, hip, xpu = json.loads(probe.stdout.strip().splitlines()[-1])
        except (ValueError, TypeError, IndexError) as exc:
            raise ConfigError(
                f"{self.role}_python", f"{self.python}: no answer to the torch probe ({exc})"
            ) from exc
        flavour = build_flavour(torch, cuda, hip, xpu)
        return StackInfo(python, torch, str(self.python), str(self.root), cuda, flavour)


def run_ab(
    reference: Stack,
    candidate: Stack,
    selection: BenchSelection,
    out: Path,
    machine: str,
    processes: int = 8,
    threshold: float | None = None,
    repro_args: tuple[str, ...] | None = ("--seeds", "42", "--no-golden"),
    on_progress: ProgressCallback | None = None,
    count_instructions: bool = True,
    on_stacks: StacksCallback | None = None,
) -> AbResult:
    """Interleaved benchmark processes of both stacks, then each stack's repro matrix.

    Instructions are counted in each side's first process (Valgrind), unless not asked.
    ``on_stacks`` hears what tells the stacks apart before the minutes of measuring."""
    started = time.perf_counter()
    if not 2 <= processes <= 100:
        raise ConfigError("processes", f"must be in [2, 100] for a verdict, got {processes}")
    check_new_folder(out)
    stacks = (reference, candidate)
    for stack in stacks:
        stack.check()
    described = {stack.role: stack.describe() for stack in stacks}
    if on_stacks is not None:
        on_stacks(StackDifference(described["reference"], described["candidate"]))
    say = on_progress or (lambda line: None)
    session = kinds.utc_stamp()
    failures: list[str] = []
    for index in range(processes):
        for stack in stacks:
            count = count_instructions and index == 0
            code = _bench_process(stack, selection, out, machine, session, index, count)
            say(f"ab: {stack.role} bench process {index + 1} of {processes}: pytest exit {code}")
            if code != 0:
                failures.append(f"{stack.role} bench process {index + 1}: pytest exit {code}")
    numeric = NumericVerdict(NOT_RUN)
    if repro_args is not None:
        for stack in stacks:
            code = _repro(stack, out, repro_args)
            say(f"ab: {stack.role} repro matrix: exit {code}")
            if code not in (0, 1):  # 1: a check failed, a finding the comparison reports
                failures.append(
                    f"{stack.role} repro: exit {code} (see {out / stack.role}/repro.log)"
                )
        numeric = _numeric_verdict(out) if selection.target is None else _target_numerics(out)
    speed = _speed_verdict(out, threshold)
    result = AbResult(described, speed, numeric, time.perf_counter() - started, tuple(failures))
    write_json_new(out / kinds.AB_FILE, kinds.envelope(kinds.AB, result.to_dict()))
    if speed is not None:
        write_json_new(
            out / kinds.SPEED_VERDICT_FILE, kinds.envelope(kinds.SPEED_VERDICT, speed.to_dict())
        )
    return result


def _bench_process(
    stack: Stack,
    selection: BenchSelection,
    out: Path,
    machine: str,
    session: str,
    index: int,
    count: bool,
) -> int:
    env = process_env(stack.env(), f"{session}-{stack.role}", index, count)
    storage = (out / stack.role / "bench").resolve()
    request = BenchRequest(selection, machine=machine)
    command = [
        str(stack.python), "-m", "pytest", str(stack.root / "bench"), *request.pytest_args(),
        f"--benchmark-storage=file://{storage}", "--benchmark-autosave",
        "-q", "-p", "no:cacheprovider",
    ]  # fmt: skip
    log = out / stack.role / "bench.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    return run_bounded(command, timeout_s=None, cwd=stack.root, env=env, log_path=log).exit_code


def _repro(stack: Stack, out: Path, args: tuple[str, ...]) -> int:
    target = (out / stack.role / "repro").resolve()
    command = [str(stack.python), "-m", "linreg", "repro", "--out", str(target), *args]
    log = out / stack.role / "repro.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    return run_bounded(
        command, timeout_s=None, cwd=stack.root, env=stack.env(), log_path=log
    ).exit_code


def _speed_verdict(out: Path, threshold: float | None) -> SpeedVerdict | None:
    sides = []
    for role in ROLES:
        folder = out / role / "bench"
        if not folder.is_dir():
            return None
        try:
            found = newest_per_machine(load_result_set(folder).bench_files)
        except LinregError:
            return None
        if len(found) != 1:
            return None
        sides.append(found[0])
    verdict = judge_sessions(sides[0], sides[1], threshold=threshold)
    # Where an instruction case moved, the functions that moved it.
    return dataclasses.replace(verdict, cases=tuple(explained(verdict.cases, sides[0], sides[1])))


def _target_numerics(out: Path) -> NumericVerdict:
    """A target's runs of both stacks' matrices, paired by config id (linreg.compare.
    target_runs): bits across two stacks are information; the verdict says how many agree."""
    from linreg.compare.target_runs import compare_target_runs

    try:
        compared = compare_target_runs(out / "reference" / "repro", out / "candidate" / "repro")
    except LinregError as exc:
        return NumericVerdict(f"no target runs to compare ({exc})")
    same = sum(pair.status == "bit-identical" for pair in compared.pairs)
    first = next((p for p in compared.pairs if p.status != "bit-identical"), None)
    said = f"; first: {first.label}: {first.words()}" if first is not None else ""
    return NumericVerdict(f"target runs: {same} of {len(compared.pairs)} bit-identical across "
                          f"the stacks{said}")  # fmt: skip


def _numeric_verdict(out: Path) -> NumericVerdict:
    """Each run of the candidate's matrix against the same config's run in the reference's:
    the worst level is the verdict (a bit-identical … d different)."""
    runs = {}
    for role in ROLES:
        try:
            runs[role] = load_result_set(out / role / "repro").runs
        except LinregError as exc:
            return NumericVerdict(f"no repro results ({exc})")
    pairs = []
    tolerances = default_tolerances()
    for label in sorted(set(runs["reference"]) & set(runs["candidate"])):
        c = compare_runs(runs["candidate"][label], runs["reference"][label], tolerances,
                         candidate_label=label, reference_label=label)  # fmt: skip
        pairs.append(AbPair(
            label, c.level, c.divergence.bitwise, c.horizon,
            (c.final_reference["weight"], c.final_candidate["weight"]), c.within_tolerance,
        ))  # fmt: skip
    return NumericVerdict.of(tuple(pairs))
