"""The main job's overlap: `linreg run` end to end against the sum of its parts run alone.

`python bench/job_overlap.py [--rounds N] [--json PATH]` (or `nox -s perf`). Each round
starts three fresh processes, in an order that rotates from round to round:

- ``cli``: `python -m linreg run`, as a user starts it (its wall time, start-up included);
- ``overlapped``: ``run_main_job(out)``, the job's own seconds once torch is imported;
- ``alone``: ``run_main_job(out, overlap=False)``: the same steps one after the other, nothing
  overlapping, each waiting for its own children (the bench step for its own Valgrind).

Medians over the rounds: ``end_to_end_s`` (overlapped), ``sum_of_parts_s`` (alone: train,
bench, speed, repro and report, each one's seconds), ``ratio`` = end_to_end_s / sum_of_parts_s
and ``cli_end_to_end_s``. The ratio is the job's overlap whatever the machine: near 1 the parts
run one after another again, and the script exits 1 above TARGET_RATIO. The CLI's time is
measured against TARGET_CLI_S, the target of a 2-core machine, as information elsewhere.
Every job the script runs counts instructions where Valgrind is installed and this stack has a
baseline, as `linreg run` does. Not collected by `pytest bench` (its name is not bench_*.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout

# Above this the parts no longer overlap: on 2 cores the overlapped job measured 0.6 of its parts.
TARGET_RATIO = 0.8
# `linreg run` on a 2-core machine, quiet, its second run (the target).
TARGET_CLI_S = 25.0
KINDS = ("cli", "overlapped", "alone")


@dataclass(frozen=True)
class Round:
    """One round's figures: the CLI's wall time, the overlapped job's seconds, and each
    part's seconds run alone."""

    cli_s: float
    overlapped_s: float
    parts_s: dict[str, float]


@dataclass(frozen=True)
class JobSpeed:
    rounds: int
    end_to_end_s: float
    sum_of_parts_s: float
    parts_s: dict[str, float]
    ratio: float
    target_ratio: float
    meets_ratio: bool
    cli_end_to_end_s: float
    target_cli_s: float
    meets_cli: bool
    cpus: int
    load_before: float
    load_after: float


def summarize(rounds: list[Round], load_before: float, load_after: float) -> JobSpeed:
    """Medians over the rounds; the ratio of the medians."""
    end_to_end = statistics.median(r.overlapped_s for r in rounds)
    names = list(rounds[0].parts_s)
    parts = {name: statistics.median(r.parts_s[name] for r in rounds) for name in names}
    total = statistics.median(sum(r.parts_s.values()) for r in rounds)
    cli = statistics.median(r.cli_s for r in rounds)
    ratio = end_to_end / total
    return JobSpeed(len(rounds), end_to_end, total, parts, ratio, TARGET_RATIO,
                    ratio <= TARGET_RATIO, cli, TARGET_CLI_S, cli <= TARGET_CLI_S,
                    os.cpu_count() or 1, load_before, load_after)  # fmt: skip


def order(index: int) -> tuple[str, ...]:
    """The kinds in round ``index``'s order: each kind goes first, second and last in turn."""
    shift = index % len(KINDS)
    return KINDS[shift:] + KINDS[:shift]


def measure(rounds: int, run: Callable[[str, Path], tuple[float, dict[str, float]]],
            say: Callable[[str], None] = print) -> JobSpeed:  # fmt: skip
    """``rounds`` rounds of ``run(kind, out)`` (seconds, and parts where it ran them alone)."""
    load_before = os.getloadavg()[0]
    found = []
    with tempfile.TemporaryDirectory(prefix="linreg-bench-job-") as work:
        for index in range(rounds):
            figures: dict[str, tuple[float, dict[str, float]]] = {}
            for kind in order(index):
                figures[kind] = run(kind, Path(work) / f"{index}-{kind}")
                say(f"round {index + 1}/{rounds}: {kind} {figures[kind][0]:.1f} s")
            found.append(Round(figures["cli"][0], figures["overlapped"][0],
                               figures["alone"][1]))  # fmt: skip
    return summarize(found, load_before, os.getloadavg()[0])


def run_in_child(kind: str, out: Path) -> tuple[float, dict[str, float]]:
    """One measurement in a fresh process: the CLI's wall time, or the job's own seconds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}  # fmt: skip
    if kind == "cli":
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "linreg", "run", "--out", str(out)],
                              env=env, capture_output=True, text=True, check=False)  # fmt: skip
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"linreg run exited {done.returncode}: {done.stderr.strip()[-500:]}")
        return seconds, {}
    done = subprocess.run([sys.executable, __file__, "--one", kind, str(out)], env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{kind} job failed: {done.stderr.strip()[-500:]}")
    body = json.loads(done.stdout.strip().splitlines()[-1])
    return body["seconds"], body["parts"]


def one(kind: str, out: Path) -> None:
    """In the child: the job once, overlapped or its parts alone; its figures as JSON."""
    from linreg.jobs.main_job import run_main_job

    started = time.perf_counter()
    result = run_main_job(out, overlap=kind == "overlapped")
    seconds = time.perf_counter() - started
    failed = [step.name for step in result.steps if not step.ok]
    if failed:
        raise SystemExit(f"the job's steps failed: {', '.join(failed)}")
    parts = {step.name: step.seconds or 0.0 for step in result.steps}
    print(json.dumps({"seconds": seconds, "parts": parts}))


def report(speed: JobSpeed) -> str:
    parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in speed.parts_s.items())
    verdict = "OK" if speed.meets_ratio else "MISSED: the parts no longer overlap"
    if not speed.meets_ratio and speed.load_before >= speed.cpus:
        # Other work kept every core busy: there was no idle core to overlap on.
        verdict += f" (or the load, {speed.load_before:.1f} on {speed.cpus} cores, left none free)"
    cli = "within" if speed.meets_cli else "beyond"
    return "\n".join([
        f"parts alone: {parts}; sum {speed.sum_of_parts_s:.1f} s",
        f"job, parts overlapping: {speed.end_to_end_s:.1f} s",
        f"ratio {speed.ratio:.2f} (target <= {speed.target_ratio}): {verdict}",
        f"linreg run end to end: {speed.cli_end_to_end_s:.1f} s, {cli} the"
        f" {speed.target_cli_s:.0f} s of a 2-core machine (this one: {speed.cpus} cores; load"
        f" {speed.load_before:.2f} before, {speed.load_after:.2f} after; medians of"
        f" {speed.rounds} rounds)",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three (default 3)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        one(args.one[0], Path(args.one[1]))
        return 0
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    if args.json is not None and args.json.exists():
        parser.error(f"--json: {args.json} exists; figures are never written over")
    speed = measure(args.rounds, run_in_child)
    print(report(speed))
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(speed), indent=1) + "\n", encoding="utf-8")
    return 0 if speed.meets_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
