"""A repro run's worker processes, for the tutorial's matrix and a target's alike: its two
copies side by side, each training every config; the first, before its copy, stopping the resume
check's runs half-way, and the second, before its copy (a fresh process: it has trained nothing
yet), finishing them; then the copies, torch warm, as the two sides of the run's replays
(``linreg.suites.replay_sides``) until the run's checks are done.

Two processes, not three: a worker of its own for the resume check cost `linreg repro` a third
interpreter start (torch and torch._dynamo, about 3 s of CPU), while its state when it resumes
is the same in the second copy's worker, which resumes before it trains.

Whatever stops the run (an error, Ctrl-C, SIGTERM, a worker that fails) stops the workers before
it goes on, and each worker removes what it was writing: nothing runs on and nothing
half-written stays.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from linreg.errors import ResultSetError
from linreg.suites.replay_sides import (
    REPLAYS_OPTION,
    SideRunner,
    release,
    served_side,
    serving_args,
    serving_from,
)
from linreg.suites.repro_resume import FINISH_OPTION, RESUME_LIST, finishing_args, finishing_from
from linreg.suites.worker import worker_main
from linreg.suites.workers import Workers

RESUME = "resume"


@dataclass(frozen=True)
class CopyWorkers:
    """What the workers are started with: the copy's worker module (``python -m module
    [--finish-resumes RESUME_DIR] CONFIG_LIST COPY_DIR [RESUME_DIR]``), the list of configs, each
    copy's folder (the first is the one that stops the resume check's runs, the second the one
    that finishes them), and, where the matrix has a resume check, its folder and whether every
    run of it is finished."""

    module: str
    config_list: Path
    dirs: dict[str, Path]
    resume: tuple[Path, Callable[[], bool]] | None = None

    def commands(self, replay_folders: dict[str, Path]) -> dict[str, list[str]]:
        first, second = self.dirs
        resume_dir = self.resume[0] if self.resume is not None else None
        commands = {}
        for copy, folder in self.dirs.items():
            finish = finishing_args(resume_dir) if resume_dir and copy == second else []
            stop = [str(resume_dir)] if resume_dir and copy == first else []
            commands[copy] = [sys.executable, "-m", self.module,
                              *serving_args(replay_folders[copy]), *finish,
                              str(self.config_list), str(folder), *stop]  # fmt: skip
        return commands

    def role(self, copy: str) -> str:
        """What a failed worker was doing: the second copy's is the resume check's process
        until every resumed run is written."""
        _, second = self.dirs
        if copy == second and self.resume is not None and not self.resume[1]():
            return RESUME
        return copy


@contextlib.contextmanager
def trained_copies(
    plan: CopyWorkers,
    done: Callable[[], int],
    total: int,
    on_progress: Callable[[int, int], None] | None,
    failure: Callable[[str, str], Exception],
    replay_error: type[Exception],
) -> Iterator[tuple[SideRunner, SideRunner]]:
    """Train the matrix (``done()`` of ``total`` files written, reported to ``on_progress``);
    yield the two copies as a replay's sides (candidates, references). A worker that failed
    raises ``failure(its name, its last line)``, in training or as the block ends."""
    with contextlib.ExitStack() as stack:
        replays = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="linreg-replay-")))
        folders = {copy: replays / copy for copy in plan.dirs}
        commands = plan.commands(folders)

        def trained() -> bool:
            return done() == total  # the copies wait for their replays: they do not end

        workers = stack.enter_context(Workers(commands))
        workers.wait(done, total, on_progress, until=trained)
        for name, last in workers.failures().items():
            raise failure(plan.role(name), last)
        if done() < total:
            raise failure("copy", "it ended before every run was written")
        yield tuple(served_side(workers, c, folders[c], replay_error) for c in folders)
        for name, last in release(workers, folders).items():
            raise failure(name, last)


# --- in a copy's worker --------------------------------------------------------------------------


@dataclass(frozen=True)
class CopySteps:
    """What a copy's worker does, for the tutorial's configs or a target's: read a list of
    configs, write the resume check's points, finish its resumes, train the copy, replay."""

    read_config_list: Callable[[Path], list]
    write_resume_points: Callable[[list, Path], None]
    resume_all: Callable[[Path], None]
    train_all: Callable[[list, Path], None]
    replay_all: Callable[..., None]


def copy_worker_main(module: str, argv: list[str], steps: CopySteps) -> int:
    """``python -m module [--replays DIR PARENT_PID] [--finish-resumes RESUME_DIR] CONFIGS_JSON
    OUT_DIR [RESUME_DIR]``, the command ``CopyWorkers.commands`` builds."""
    serving, argv = serving_from(argv)
    finishing, argv = finishing_from(argv)

    def work(args: list[str]) -> None:
        if finishing is not None:
            # First of all, while this process has trained nothing: the resume check's fresh
            # process, with no interpreter of its own to start.
            steps.resume_all(finishing)
        if len(args) == 3:
            resume_dir = Path(args[2])
            steps.write_resume_points(steps.read_config_list(resume_dir / RESUME_LIST), resume_dir)
        steps.train_all(steps.read_config_list(Path(args[0])), Path(args[1]))
        if serving is not None:
            serving.serve(steps.replay_all, ResultSetError)

    return worker_main(module,
                       f"[{REPLAYS_OPTION} DIR PARENT_PID] [{FINISH_OPTION} RESUME_DIR] "
                       "CONFIGS_JSON OUT_DIR [RESUME_DIR]",
                       argv, (2, 3), work)  # fmt: skip
