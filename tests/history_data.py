"""Histories for `linreg history`'s tests: hosts' benchmark sessions over time, with steps
planted at known sessions, written as pytest-benchmark files (the fixture file's cases); and
repro result sets cloned from a real one, drifting. Cheap: JSON in, JSON out."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.bench_sessions_data import fixture, process_file

START = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
TRAIN = "bench_train.py::bench_train[cpu-float32-seed42-eager]"
INFERENCE = "bench_inference.py::bench_inference[cpu-float32-seed42-eager-n1000]"
TRAIN_COUNT = 333e6
INFERENCE_COUNT = 95e3


def write_host(
    folder: Path,
    *,
    machine: str,
    host_id: str | None,
    sessions: int,
    speed: float = 1.0,
    wall: Callable[[int], dict[str, float]] | None = None,
    instructions: Callable[[int], dict[str, float]] | None = None,
    torch: Callable[[int], str] | None = None,
    commit: Callable[[int], str] | None = None,
    noise: float = 0.01,
    processes: int = 1,
    minutes: int = 0,
    seed: int = 0,
) -> list[Path]:
    """``sessions`` sessions of one host an hour apart (``minutes`` past the hour), each of
    ``processes`` process files holding the train and the n1000 inference cases.

    ``wall(s)``: factors on session s's times by case kind ("train", "inference"); ``instructions
    (s)``: factors on the counts, which the first process records; ``torch(s)``: its torch;
    ``commit(s)``: its linreg commit (by default a new one every session)."""
    rng = random.Random(seed)
    base = fixture()
    base["benchmarks"] = [b for b in base["benchmarks"] if b["fullname"] in (TRAIN, INFERENCE)]
    paths = []
    for s in range(sessions):
        factors = (wall or (lambda _: {}))(s)
        counts = (instructions or (lambda _: {}))(s)
        shared = math.exp(rng.gauss(0, noise))
        for process in range(processes):
            jitter = shared * math.exp(rng.gauss(0, noise / 2)) / speed
            scale = {kind: factors.get(kind, 1.0) * jitter for kind in ("train", "inference")}
            data = process_file(
                base,
                machine=machine,
                session=f"{machine}-{host_id}-s{s:04d}",
                process=process,
                started=START + dt.timedelta(hours=s, minutes=minutes, seconds=20 * process),
                torch=torch(s) if torch else None,
                scale=scale,
                instructions=None
                if process
                else {
                    "train": TRAIN_COUNT * counts.get("train", 1.0),
                    "inference": INFERENCE_COUNT * counts.get("inference", 1.0),
                },
            )
            env = data["machine_info"]["linreg_environment"]
            env.pop("host_id", None)
            if host_id is not None:
                env["host_id"] = host_id
            env["linreg_commit"] = commit(s) if commit else f"{s:08x}" + "c" * 32
            path = folder / machine / f"{s:04d}_{process}_{host_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, indent=4))
            paths.append(path)
    return paths


def step(at: int, kind: str, ratio: float) -> Callable[[int], dict[str, float]]:
    """Factors with one step: ``kind``'s values times ``ratio`` from session ``at`` on."""
    return lambda s: {kind: ratio} if s >= at else {}


def clone_repro(
    original: Path, folder: Path, sets: int, host_id: str, drift: Callable[[int], int]
) -> list[Path]:
    """``sets`` copies of a real repro result set, an hour apart, on the host ``host_id``; in
    copy k the dtype pair's horizon is ``drift(k)`` and its final train loss moves a little."""
    made = []
    for k in range(sets):
        stamp = (START + dt.timedelta(hours=k)).strftime("%Y%m%dT%H%M%S%fZ")
        target = folder / f"{stamp}-{original.name.split('-', 1)[1]}"
        shutil.copytree(original, target)
        for record in target.glob("*/*.json"):
            data = json.loads(record.read_text())
            if "environment" not in data:
                continue  # not a run record (a resume check's state, a config list)
            data["environment"]["host_id"] = host_id
            record.write_text(json.dumps(data))
        checks_path = target / "checks.json"
        checks = json.loads(checks_path.read_text())
        drifting = next(c["subject"] for c in checks["checks"] if c["pair"] == "dtype")
        for check in checks["checks"]:
            comparison = check.get("comparison")
            if comparison and check["pair"] == "dtype":
                comparison["horizon"] = drift(k)
            if comparison and check["subject"] == drifting:  # the run's loss, in every check
                comparison["final_candidate"]["train_loss"] *= 1 + 0.01 * k
        checks_path.write_text(json.dumps(checks))
        made.append(target)
    return made
