"""Benchmark sessions: the processes of one `linreg bench` invocation, grouped by machine.

A session is the unit a timing comparison reads: one or more processes of the same code on one
machine (`linreg bench --processes N` runs N). Files carry their session in machine_info
(``linreg_session``); a file without one (older files, a bare `pytest bench`) is a session of
its own. A folder given to `linreg compare` means its newest session per machine.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from linreg.results.bench_file import BenchFile
from linreg.results.op_counts import OpCounts, case_op_counts


@dataclass(frozen=True)
class BenchSession:
    machine: str
    session: str
    files: tuple[BenchFile, ...]  # one per process, in the order they ran

    @property
    def processes(self) -> int:
        return len(self.files)

    @property
    def started(self) -> str:
        return min(f.datetime or "" for f in self.files)

    @property
    def time_span(self) -> tuple[str, str] | None:
        """When its first and last process ran (pytest-benchmark's ISO times), if all say."""
        times = [f.datetime for f in self.files]
        if not times or not all(isinstance(t, str) and t for t in times):
            return None
        return min(times), max(times)

    @property
    def name(self) -> str:
        """The session in a few words: its machine and torch, and when it started."""
        env = self.files[0].environment
        torch = f", torch {env['torch']}" if isinstance(env.get("torch"), str) else ""
        when = f", {self.started[:16]}" if self.started else ""
        return f"{self.machine}{torch}{when}"

    @property
    def label(self) -> str:
        plural = "es" if self.processes != 1 else ""
        return f"{self.machine} session {self.session} ({self.processes} process{plural})"

    @property
    def instruction_status(self) -> str:
        """What the session's counting process said of instruction counts."""
        for file in self.files:
            status = file.machine_info.get("linreg_instructions")
            if isinstance(status, str) and status:
                return status
        return "not recorded"


@dataclass(frozen=True, slots=True)
class CaseSamples:
    """One case's samples in one session: each process's median round (seconds), each counting
    process's instructions per call, for a single process its rounds' quartiles, and each
    counting process's op counts (deterministic: one decides)."""

    case: str
    wall: tuple[float, ...]
    instructions: tuple[float, ...] = ()
    quartiles: tuple[float, float] | None = None
    ops: tuple[OpCounts, ...] = ()


def session_samples(session: BenchSession) -> dict[str, CaseSamples]:
    """Each case's samples: its median round in each process, its instruction count per call
    where the process counted one (extra_info["instructions"]), and its op counts where the
    process counted them (extra_info["op_counts"])."""
    wall: dict[str, list[float]] = {}
    counts: dict[str, list[float]] = {}
    ops: dict[str, list[OpCounts]] = {}
    for file in session.files:
        for case in file.cases:
            wall.setdefault(case.fullname, []).append(statistics.median(case.rounds))
            count = case.extra_info.get("instructions")
            if isinstance(count, (int, float)) and not isinstance(count, bool) and count > 0:
                counts.setdefault(case.fullname, []).append(float(count))
            counted = case_op_counts(file.path, case)
            if counted is not None:
                ops.setdefault(case.fullname, []).append(counted)
    return {
        name: CaseSamples(
            name, tuple(values), tuple(counts.get(name, ())), ops=tuple(ops.get(name, ()))
        )
        for name, values in wall.items()
    }


def session_of(file: BenchFile) -> str:
    session = file.machine_info.get("linreg_session")
    return str(session) if session else f"file:{file.path}"


def sessions(files: Iterable[BenchFile]) -> list[BenchSession]:
    """Files grouped by (machine, session), oldest session first."""
    groups: dict[tuple[str, str], list[BenchFile]] = {}
    for file in files:
        groups.setdefault((file.machine or "unknown", session_of(file)), []).append(file)
    found = [
        BenchSession(machine, session, tuple(sorted(group, key=_process_order)))
        for (machine, session), group in groups.items()
    ]
    return sorted(found, key=lambda s: (s.started, s.session))


def _process_order(file: BenchFile) -> tuple[int, str]:
    index = file.machine_info.get("linreg_process")
    return (index if isinstance(index, int) else 0, str(file.path))


def newest_per_machine(files: Iterable[BenchFile]) -> list[BenchSession]:
    """The newest session of each machine, in machine order."""
    newest: dict[str, BenchSession] = {}
    for session in sessions(files):
        newest[session.machine] = session  # sessions() is oldest first
    return [newest[m] for m in sorted(newest)]
