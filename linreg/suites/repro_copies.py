"""A repro run's worker processes, for the tutorial's matrix and a target's alike: its two
copies side by side, each training every config; the first also stopping the resume check's
runs half-way, for a third, fresh process to finish; then the copies, torch warm, as the two
sides of the run's replays (``linreg.suites.replay_sides``) until the run's checks are done.

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

from linreg.suites.replay_sides import SideRunner, release, served_side, serving_args
from linreg.suites.workers import Workers

RESUME = "resume"


@dataclass(frozen=True)
class CopyWorkers:
    """What the workers are started with: the copy's worker module (``python -m module
    CONFIG_LIST COPY_DIR [RESUME_DIR]``), the list of configs, each copy's folder (the first is
    the one that stops the resume check's runs), and, where the matrix has a resume check, its
    folder and the command of the worker that finishes them."""

    module: str
    config_list: Path
    dirs: dict[str, Path]
    resume: tuple[Path, list[str]] | None = None

    def commands(self, replay_folders: dict[str, Path]) -> dict[str, list[str]]:
        commands = {
            copy: [sys.executable, "-m", self.module, *serving_args(replay_folders[copy]),
                   str(self.config_list), str(folder)]
            for copy, folder in self.dirs.items()
        }  # fmt: skip
        if self.resume is not None:
            resume_dir, command = self.resume
            commands[next(iter(self.dirs))].append(str(resume_dir))
            commands[RESUME] = command
        return commands


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
            # The copies wait for their replays; the resume worker's end is its last word.
            return done() == total and not (RESUME in commands and workers.running(RESUME))

        workers = stack.enter_context(Workers(commands))
        workers.wait(done, total, on_progress, until=trained)
        for name, last in workers.failures().items():
            raise failure(name, last)
        if done() < total:
            raise failure("copy", "it ended before every run was written")
        yield tuple(served_side(workers, c, folders[c], replay_error) for c in folders)
        for name, last in release(workers, folders).items():
            raise failure(name, last)
