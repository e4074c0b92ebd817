"""Results over time: every benchmark session and repro result set in any number of results
trees, each once, in time order, with its host and stack. What `linreg history` draws.

- Trees merge by files, as asv's do: committed baselines, CI artifacts, several machines'
  folders. A file seen twice (copied into two trees, a baseline kept again under its stack key,
  an artifact downloaded twice) is read once: a benchmark file is known by what it holds (its
  session, process, time and cases' rounds), a repro set by its id (its folder's name: a UTC
  stamp and its matrix), never by where it lies.
- A host is its host id (``linreg_environment.host_id``, a keyed hash of its machine id) where
  the files carry one. Files written before linreg recorded one are known by their machine name
  (CPU model, cores, GPUs), which every host of one kind shares: ``History.without_host_id``
  says which machines that was.
- A session is placed in time by its first process (pytest-benchmark's ``datetime``), a repro
  set by the stamp its folder is named with; one that says no time cannot be placed, and is
  counted apart.
- A file that cannot be read (truncated, another schema) is passed over and named: one bad
  artifact among a thousand sessions should not hide the other 999.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from linreg.errors import ResultSetError
from linreg.json_types import Fingerprint
from linreg.results import kinds
from linreg.results.bench_file import BenchFile
from linreg.results.bench_sessions import BenchSession, CaseSamples, session_samples
from linreg.results.load import load_result, load_run
from linreg.results.repro_checks import ReproCheck, ReproChecks
from linreg.results.walk import expand
from linreg.stack import stack_key

Progress = Callable[[int, int, str], None]
_Record = TypeVar("_Record", "HistorySession", "ReproSession")


@dataclass(frozen=True)
class Where:
    """Where and on what a session ran: its host, machine and stack."""

    host: str  # "host <id>", or "machine <name>" for files without a host id
    host_id: str | None
    machine: str
    stack: str  # linreg.stack.stack_key of its fingerprint
    torch: str | None
    python: str | None
    commit: str | None  # linreg's own commit (linreg_commit)

    @property
    def stack_words(self) -> str:
        return stack_words(self.torch, self.python)


def stack_words(torch: str | None, python: str | None) -> str:
    return f"torch {torch or '?'}, Python {python or '?'}"


@dataclass(frozen=True, eq=False)
class HistorySession:
    """One benchmark session: the processes of one `linreg bench`, pooled per case."""

    id: str  # linreg_session, or for a file without one its content id
    started: dt.datetime  # UTC
    where: Where
    processes: int
    cases: dict[str, CaseSamples]


@dataclass(frozen=True, eq=False)
class ReproSession:
    """One repro result set: its checks (checks.json), where and when it ran."""

    id: str  # the set's folder name: <UTC stamp>-<matrix id>
    path: Path
    started: dt.datetime
    where: Where
    checks: tuple[ReproCheck, ...]
    epochs: int | None = None  # the runs' length: a pair within tolerance throughout agrees so far


@dataclass
class History:
    sessions: list[HistorySession]  # oldest first
    repro: list[ReproSession]  # oldest first
    sources: tuple[str, ...]
    files: int = 0  # result files looked at
    copies: int = 0  # files (or repro sets) read already from another place, not counted again
    passed_over: int = 0  # result files of other kinds (run folders, sweeps, verdicts)
    untimed: int = 0  # sessions and repro sets that say no time
    unfinished: int = 0  # repro sets without checks.json (stopped, or still running)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # host -> what the site calls it
    # Host ids whose files carry several machine names -> the names: one host per name.
    renamed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def hosts(self) -> list[str]:
        return sorted(self.labels, key=self.labels.__getitem__)

    @property
    def without_host_id(self) -> list[str]:
        """Machines whose files carry no host id: each is one series, whatever hosts ran it."""
        found = {r.where.machine for r in (*self.sessions, *self.repro) if r.where.host_id is None}
        return sorted(found)

    @property
    def stacks(self) -> list[str]:
        return sorted({s.where.stack for s in (*self.sessions, *self.repro)})

    @property
    def cases(self) -> list[str]:
        return sorted({case for s in self.sessions for case in s.cases})


def gather(paths: Iterable[str | Path], on_progress: Progress | None = None) -> History:
    """Every benchmark session and repro result set under ``paths`` (files or folders), each
    once, oldest first. ResultSetError for a path that does not exist or holds neither."""
    sources = tuple(str(p) for p in paths)
    if not sources:
        raise ResultSetError("no results given")
    files: dict[str, Path] = {}
    for given in sources:
        for path in expand(given):
            files.setdefault(os.path.realpath(path), path)  # one file named twice is one file
    found = _Found()
    listed = list(files.values())
    for done, path in enumerate(listed, start=1):
        found.read(path)
        if on_progress is not None:
            on_progress(done, len(listed), "reading result files")
    history = found.history(sources, len(listed))
    if not history.sessions and not history.repro:
        what = "benchmark sessions or repro result sets"
        said = f" ({history.untimed} without a time)" if history.untimed else ""
        raise ResultSetError(f"{', '.join(sources)}: no {what} found{said}")
    return history


def history_of(files: Iterable[BenchFile], sources: tuple[str, ...] = ()) -> History:
    """The history of benchmark files already loaded (no repro sets), each once, oldest
    first."""
    found = _Found()
    listed = list(files)
    for file in listed:
        found.add_bench(file)
    return found.history(sources, len(listed))


class _Found:
    """What the files read so far hold, before it is ordered into a History."""

    def __init__(self) -> None:
        self.process_ids: set[str] = set()
        # (host, session id) -> each process: its index, content id, time, and what it holds
        self.groups: dict[tuple[str, str], list[tuple[int, str, str | None, _Compact]]] = {}
        self.repro: dict[tuple[str, str], ReproSession] = {}
        self.copies = self.passed_over = self.untimed = self.unfinished = 0
        self.unreadable: list[tuple[Path, str]] = []

    def read(self, path: Path) -> None:
        if (
            path.name == kinds.REPRO_MANIFEST_FILE
            and (path.parent / kinds.REPRO_COPIES[0]).is_dir()
        ):
            if not (path.parent / kinds.REPRO_CHECKS_FILE).is_file():
                self.unfinished += 1
            return  # read with the set's checks.json
        if _is_repro_run(path):
            return  # one of them is read with the set's checks.json
        try:
            loaded = load_result(path)
            if loaded is not None and loaded.kind == kinds.REPRO_CHECKS:
                self._add_repro(path, loaded.value)
                return
        except ResultSetError as exc:
            self.unreadable.append((path, str(exc).removeprefix(f"{path}: ")))
            return
        if loaded is None or loaded.kind != kinds.BENCH:
            self.passed_over += 1
            return
        self.add_bench(loaded.value)

    def add_bench(self, file: BenchFile) -> None:
        identity = content_id(file)
        if identity in self.process_ids:
            self.copies += 1
            return
        self.process_ids.add(identity)
        where = where_of(file.environment, file.machine)
        session = file.machine_info.get("linreg_session")
        session_id = session if isinstance(session, str) and session else f"file-{identity[:16]}"
        process = file.machine_info.get("linreg_process")
        order = process if isinstance(process, int) else 0
        key = (where.host, session_id)
        group = self.groups.setdefault(key, [])
        group.append((order, identity, file.datetime, _Compact(where, _records(file))))

    def _add_repro(self, path: Path, checks: ReproChecks) -> None:
        folder = path.parent
        environment, created = _repro_environment(folder)
        where = where_of(environment, None)
        key = (where.host, folder.name)
        if key in self.repro:
            self.copies += 1
            return
        started = _stamp_time(folder.name) or _iso_time(created)
        if started is None:
            self.untimed += 1
            return
        self.repro[key] = ReproSession(folder.name, folder, started, where, checks.checks,
                                       checks.epochs)  # fmt: skip

    def history(self, sources: tuple[str, ...], files: int) -> History:
        sessions = []
        for (_, session_id), group in self.groups.items():
            group.sort(key=lambda item: (item[0], item[1]))
            times = [t for t in (_iso_time(item[2]) for item in group) if t is not None]
            if not times:
                self.untimed += 1
                continue
            compact = [item[3] for item in group]
            sessions.append(
                HistorySession(
                    id=session_id,
                    started=min(times),
                    where=compact[0].where,
                    processes=len(group),
                    cases=_pooled([c.records for c in compact]),
                )
            )
        sessions.sort(key=lambda s: (s.started, s.where.host, s.id))
        # A host whose files carry several machine names (`linreg bench --machine NAME` on some
        # of them) is one host per name: each keeps its own sessions, and none takes the name
        # another tree gave it.
        names: dict[str, set[str]] = {}
        for session in sessions:
            if session.where.host_id is not None:
                names.setdefault(session.where.host_id, set()).add(session.where.machine)
        renamed = {host_id for host_id, found in names.items() if len(found) > 1}
        machines = {s.where.host: s.where.machine for s in sessions
                    if s.where.host_id not in renamed}  # fmt: skip
        sessions = [_by_name(s, renamed) for s in sessions]
        repro = sorted(
            (_by_name(_named(r, machines), renamed) for r in self.repro.values()),
            key=lambda r: (r.started, r.where.host, r.id),
        )
        history = History(
            sessions=sessions,
            repro=repro,
            sources=sources,
            files=files,
            copies=self.copies,
            passed_over=self.passed_over,
            untimed=self.untimed,
            unfinished=self.unfinished,
            unreadable=self.unreadable,
        )
        history.labels = host_labels(r.where for r in (*sessions, *repro))
        history.renamed = {host_id: sorted(names[host_id]) for host_id in sorted(renamed)}
        return history


@dataclass(frozen=True, slots=True)
class _Compact:
    """One process file, reduced to what the history draws (its fingerprint let go)."""

    where: Where
    records: dict[str, CaseSamples]


def content_id(file: BenchFile) -> str:
    """What a benchmark file holds, as a hash: the same for a copy of it anywhere (or one
    written out again with other spacing), different for any other process's file."""
    env = file.environment
    body = [
        file.machine,
        env.get("host_id"),
        file.machine_info.get("linreg_session"),
        file.machine_info.get("linreg_process"),
        file.datetime,
        [(case.fullname, case.rounds) for case in file.cases],
    ]
    return hashlib.sha256(json.dumps(body, default=str).encode()).hexdigest()


def where_of(environment: Fingerprint, machine: str | None) -> Where:
    host_id = environment.get("host_id")
    host_id = host_id if isinstance(host_id, str) and host_id else None
    machine = machine or _machine_of(environment)
    commit = environment.get("linreg_commit")
    return Where(
        host=f"host {host_id}" if host_id else f"machine {machine}",
        host_id=host_id,
        machine=machine,
        stack=stack_key(environment),
        torch=_text(environment.get("torch")),
        python=_text(environment.get("python")) or _text(environment.get("python_version")),
        commit=commit if isinstance(commit, str) and commit else None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _machine_of(environment: Fingerprint) -> str:
    """A repro set's machine name, as `linreg bench` would name it (it records none)."""
    cpu = environment.get("cpu")
    if not isinstance(cpu, str):
        return "unknown"
    from linreg.machine import default_machine_name  # imports torch: only for repro sets

    gpus = environment.get("gpus")
    cores = environment.get("cpu_count")
    return default_machine_name(
        cpu=cpu,
        cpu_count=cores if isinstance(cores, int) else 0,
        gpus=[g for g in gpus if isinstance(g, str)] if isinstance(gpus, list) else [],
    )


def _named(repro: ReproSession, machines: dict[str, str]) -> ReproSession:
    """A repro set on a host that also benchmarked takes the machine name its benchmarks
    recorded (a --machine NAME given to `linreg bench`)."""
    machine = machines.get(repro.where.host)
    if machine is None or machine == repro.where.machine:
        return repro
    return dataclasses.replace(repro, where=dataclasses.replace(repro.where, machine=machine))


def _by_name(record: _Record, renamed: set[str]) -> _Record:
    """A session or repro set of a host that ran under several machine names, keyed by its host
    id and its own name."""
    where = record.where
    if where.host_id not in renamed:
        return record
    host = f"host {where.host_id} · {where.machine}"
    return dataclasses.replace(record, where=dataclasses.replace(where, host=host))


def host_labels(places: Iterable[Where]) -> dict[str, str]:
    """What each host is called: its machine name where that tells it apart, else the machine
    name and the start of its host id ("amd-epyc-2c · host 3f9a1c", longer where six digits
    would not tell two apart), or "no host id" for the files that carry none."""
    by_machine: dict[str, dict[str, str | None]] = {}
    for where in places:
        by_machine.setdefault(where.machine, {})[where.host] = where.host_id
    labels = {}
    for machine, hosts in by_machine.items():
        ids = [h for h in hosts.values() if h]
        digits = 6 if len({h[:6] for h in ids}) == len(ids) else max(map(len, ids))
        for host, host_id in hosts.items():
            which = f"host {host_id[:digits]}" if host_id else "no host id"
            labels[host] = machine if len(hosts) == 1 else f"{machine} · {which}"
    return labels


def _records(file: BenchFile) -> dict[str, CaseSamples]:
    """Each case of one process: its median round and instruction count (the rule sessions are
    compared by, linreg.results.bench_sessions.session_samples) and its rounds' quartiles."""
    samples = session_samples(BenchSession(file.machine or "", "", (file,)))
    records = {}
    for case in file.cases:
        sample = samples[case.fullname]
        rounds = case.rounds
        quartiles = statistics.quantiles(rounds, n=4) if len(rounds) > 1 else [rounds[0]] * 3
        records[case.fullname] = CaseSamples(
            case.fullname, sample.wall, sample.instructions, (quartiles[0], quartiles[2]),
            sample.ops,
        )  # fmt: skip
    return records


def _pooled(processes: list[dict[str, CaseSamples]]) -> dict[str, CaseSamples]:
    if len(processes) == 1:
        return processes[0]
    names = dict.fromkeys(name for records in processes for name in records)
    pooled = {}
    for name in names:
        here = [records[name] for records in processes if name in records]
        pooled[name] = CaseSamples(
            case=name,
            wall=tuple(v for r in here for v in r.wall),
            instructions=tuple(v for r in here for v in r.instructions),
            quartiles=here[0].quartiles if len(here) == 1 else None,
            ops=tuple(v for r in here for v in r.ops),
        )
    return pooled


def _is_repro_set(folder: Path) -> bool:
    return (folder / kinds.REPRO_MANIFEST_FILE).is_file()


def _is_repro_run(path: Path) -> bool:
    return path.parent.name in kinds.REPRO_COPIES and _is_repro_set(path.parent.parent)


def _repro_environment(folder: Path) -> tuple[Fingerprint, str | None]:
    """A repro set's fingerprint and when its first run was written, from one of its run
    records (they share a host and stack); its manifest's torch and Python where none loads."""
    for copy in kinds.REPRO_COPIES:
        for record in sorted((folder / copy).glob("*.json")):
            try:
                run = load_run(record)
            except ResultSetError:
                continue
            return run.environment, run.created
    try:
        manifest = load_result(folder / kinds.REPRO_MANIFEST_FILE)
    except ResultSetError:
        manifest = None
    stack = manifest.value.get("stack", {}) if manifest is not None else {}
    return (stack if isinstance(stack, dict) else {}), None


def _stamp_time(name: str) -> dt.datetime | None:
    """The UTC time a repro set's folder is named with (kinds.STAMP_FORMAT)."""
    try:
        stamp = dt.datetime.strptime(name.split("-", 1)[0], kinds.STAMP_FORMAT)
    except ValueError:
        return None
    return stamp.replace(tzinfo=dt.timezone.utc)


def _iso_time(text: Any) -> dt.datetime | None:
    """pytest-benchmark's ISO time, or a record's UTC stamp, as an aware UTC time."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return _stamp_time(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)  # pytest-benchmark writes UTC
    return when.astimezone(dt.timezone.utc)
