"""Synthetic benchmark sessions for report tests: the fixture file's cases, as if measured by
other processes, sessions, machines or stacks. Cheap: JSON in, JSON out, no torch."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

BENCH_FIXTURE = Path(__file__).parent / "data" / "bench_quick.json"
_STATS = ("min", "max", "mean", "median", "q1", "q3", "iqr", "stddev", "ld15iqr", "hd15iqr")


def fixture() -> dict[str, Any]:
    return json.loads(BENCH_FIXTURE.read_text())


def process_file(
    base: dict[str, Any],
    *,
    machine: str,
    session: str | None,
    process: int,
    started: dt.datetime,
    torch: str | None = None,
    scale: dict[str, float] | None = None,
    instructions: dict[str, float] | None = None,
    keep: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One process's pytest-benchmark file: ``base``'s cases (those whose name holds one of
    ``keep``, if given), each case's rounds multiplied by ``scale`` (by case kind, else by "*"),
    with an instruction count per call for the kinds in ``instructions``."""
    data = copy.deepcopy(base)
    info = data["machine_info"]
    info["linreg_machine"] = machine
    if session is not None:
        info["linreg_session"] = session
        info["linreg_process"] = process
    env = info["linreg_environment"]
    if torch is not None:
        env["torch"] = torch
    data["datetime"] = started.isoformat()
    if keep:
        data["benchmarks"] = [b for b in data["benchmarks"] if any(k in b["name"] for k in keep)]
    scale = scale or {}
    for case in data["benchmarks"]:
        extra = case["extra_info"]
        extra.update(machine=machine, torch=env["torch"])
        factor = scale.get(extra["kind"], scale.get("*", 1.0))
        stats = case["stats"]
        stats["data"] = [t * factor for t in stats["data"]]
        for key in _STATS:
            if isinstance(stats.get(key), (int, float)):
                stats[key] *= factor
        for key in ("gb_per_s", "samples_per_s"):
            if isinstance(extra.get(key), (int, float)):
                extra[key] /= factor
        if isinstance(extra.get("epoch_us"), (int, float)):
            extra["epoch_us"] *= factor
        if instructions and extra["kind"] in instructions:
            extra["instructions"] = instructions[extra["kind"]]
    return data


def write_session(
    folder: Path,
    *,
    machine: str,
    session: str,
    processes: int,
    started: dt.datetime,
    rng: random.Random,
    spread: float = 0.02,
    **kwargs: Any,
) -> list[Path]:
    """``processes`` files of one session, each process's times off by its own few percent;
    instruction counts (``instructions``) from the first process only, as the bench counts."""
    folder.mkdir(parents=True, exist_ok=True)
    base = kwargs.pop("base", None) or fixture()
    scale = kwargs.pop("scale", None) or {}
    instructions = kwargs.pop("instructions", None)
    paths = []
    for index in range(processes):
        jitter = 1 + rng.gauss(0, spread)
        factors = {kind: value * jitter for kind, value in {"*": 1.0, **scale}.items()}
        data = process_file(
            base,
            machine=machine,
            session=session,
            process=index,
            started=started + dt.timedelta(seconds=20 * index),
            scale=factors,
            instructions=instructions if index == 0 else None,
            **kwargs,
        )
        path = folder / f"{index + 1:04d}_{session}_{machine}.json"
        path.write_text(json.dumps(data))
        paths.append(path)
    return paths


def many_sessions(folder: Path, machines: int = 3, sessions: int = 200) -> Path:
    """``machines`` × ``sessions`` single-process sessions of two cases each (the train case and
    one inference case), an hour apart, each machine its own speed: a results tree of months."""
    base = fixture()
    rng = random.Random(7)
    start = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    for m in range(machines):
        machine = f"machine-{m + 1}"
        for s in range(sessions):
            write_session(
                folder / machine,
                machine=machine,
                session=f"s{s:04d}",
                processes=1,
                started=start + dt.timedelta(hours=s, minutes=m),
                rng=rng,
                base=base,
                scale={"*": 1 + 0.25 * m},
                keep=("train", "n1000]"),
            )
    return folder
