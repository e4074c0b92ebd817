"""Where the two sides of a replay run: a worker started for each, or, in a repro run, the two
copies' workers, which trained the runs and wait for their side's jobs.

A replay worker costs an interpreter importing torch and ``torch._dynamo`` (2.2-2.6 s of CPU on a
two-core VM), for a trace that takes a fraction of that. A repro run's copies have both warm: each,
once it has trained its copy, waits in a folder of the run's for its side's jobs (the file
``replay_all`` reads, written whole by rename; an empty list where the checks named no pair),
traces them into that folder and ends. It ends by itself where the run that started it has gone
(killed, so that it could not say so), rather than waiting on.

The side runner's contract, for either: given a side's jobs and a time limit, the folder its
traces were written to (as ``replay_all`` names them), or the error its caller raises.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from linreg.results.files import dumps
from linreg.suites.workers import Workers, run_module

SideRunner = Callable[[list[dict], float], Path]
JOBS_FILE = "jobs.json"
# A copy's worker takes ``--replays DIR PARENT_PID`` ahead of its own arguments.
REPLAYS_OPTION = "--replays"
JOBS_POLL_S = 0.02
# A copy told there is nothing to replay ends at once; this bounds a stuck one.
RELEASE_TIMEOUT_S = 60.0


def fresh_worker(module: str, folder: Path, error: type[Exception]) -> SideRunner:
    """A side replayed by ``python -m module JOBS_JSON FOLDER``, started for it."""

    def run(jobs: list[dict], timeout_s: float) -> Path:
        folder.mkdir()
        jobs_path = folder / JOBS_FILE
        jobs_path.write_text(dumps(jobs), encoding="utf-8")
        failed = run_module(module, [str(jobs_path), str(folder)], folder / "worker.log",
                            timeout_s)  # fmt: skip
        if failed:
            raise error(f"a replay worker failed: {failed}")
        return folder

    return run


@contextlib.contextmanager
def replayed(
    jobs: tuple[list[dict], list[dict]],
    timeout_s: float,
    sides: tuple[SideRunner, SideRunner] | None,
    module: str,
    error: type[Exception],
) -> Iterator[tuple[Path, Path]]:
    """The candidates' and the references' jobs run side by side, on ``sides`` or on a worker
    of ``module`` started for each; the two folders their traces are in, for the block."""
    with contextlib.ExitStack() as stack:
        if sides is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="linreg-replay-")))
            sides = tuple(fresh_worker(module, root / name, error)
                          for name in ("candidate", "reference"))  # fmt: skip
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = [
                pool.submit(run, side_jobs, timeout_s)
                for side_jobs, run in zip(jobs, sides, strict=True)
            ]
            folders = tuple(future.result() for future in futures)
        yield folders


# --- in a copy's worker --------------------------------------------------------------------------


@dataclass(frozen=True)
class Serving:
    """What a copy's worker was told: the folder its side's jobs come to, and whose they are."""

    folder: Path
    parent: int

    def serve(self, replay_all: Callable[[Path, Path], None], error: type[Exception]) -> None:
        """Wait for the jobs, trace them with ``replay_all(jobs, folder)``; raise ``error``
        where the parent has gone."""
        jobs = self.folder / JOBS_FILE
        while not jobs.exists():
            if os.getppid() != self.parent:
                raise error("the repro run that started this worker has ended")
            time.sleep(JOBS_POLL_S)
        replay_all(jobs, self.folder)


def serving_from(argv: list[str]) -> tuple[Serving | None, list[str]]:
    """The worker's ``--replays DIR PARENT_PID``, if given, and the arguments after it; an
    option given without both values leaves no arguments, so that the worker prints its usage."""
    if argv[:1] != [REPLAYS_OPTION]:
        return None, argv
    if len(argv) > 2 and argv[2].isdigit():
        return Serving(Path(argv[1]), int(argv[2])), argv[3:]
    return None, []


# --- in the repro run ----------------------------------------------------------------------------


def serving_args(folder: Path) -> list[str]:
    """What a copy's worker is started with, ahead of its own arguments, to serve from
    ``folder`` (made here) for this process."""
    folder.mkdir()
    return [REPLAYS_OPTION, str(folder), str(os.getpid())]


def hand_jobs(folder: Path, jobs: list[dict]) -> None:
    """A side's jobs for the worker waiting on ``folder``: written whole, then renamed."""
    staged = folder / f".{JOBS_FILE}.partial"
    staged.write_text(dumps(jobs), encoding="utf-8")
    os.replace(staged, folder / JOBS_FILE)


def served_side(workers: Workers, copy: str, folder: Path, error: type[Exception]) -> SideRunner:
    """One side, traced by the copy's worker, which trained it and waits for it."""

    def run(jobs: list[dict], timeout_s: float) -> Path:
        if not workers.running(copy):
            raise error(f"the {copy} worker ended before its replays")
        hand_jobs(folder, jobs)
        failed = workers.finish(copy, timeout_s)
        if failed:
            raise error(f"the {copy} worker failed in its replays: {failed}")
        return folder

    return run


def release(workers: Workers, folders: dict[str, Path]) -> dict[str, str]:
    """Every copy not handed a replay told there is none, and each copy's end: for each that
    ended badly, why."""
    for copy, folder in folders.items():
        if workers.running(copy):
            hand_jobs(folder, [])
    failed = {}
    for copy in folders:
        why = workers.finish(copy, RELEASE_TIMEOUT_S)
        if why:
            failed[copy] = why
    return failed
