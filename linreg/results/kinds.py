"""The kinds of result record, their schema versions, and the timestamp format, named once."""

from __future__ import annotations

import datetime as dt

from linreg.json_types import JsonObject

RUN = "run"  # a run folder's run.json, and a golden reference
REPRO_RUN = "repro-run"  # one run of a repro matrix, written by a worker process
REPRO_MANIFEST = "repro-manifest"
REPRO_CHECKS = "repro-checks"
SWEEP = "sweep"
NOISE_FLOOR = "noise-floor"  # a machine's A/A spread per case (linreg bench --processes N)
SPEED_VERDICT = "speed-verdict"  # a timing comparison's verdict with its evidence
AB = "ab-result"  # a same-machine A/B of two stacks: the numeric and the speed verdict
MAIN_JOB = "main-job"  # linreg run's steps: which ran, which failed and why
GPU_RUN = "gpu-run-summary"  # what `linreg gpu-run` found: steps, crossovers, floors, repro levels
REPRO_RESUME_POINT = "repro-resume-point"  # a repro run's state at its checkpoint, piece by piece
REPRO_RESUMED = "repro-resumed"  # a repro run finished from its checkpoint, in a fresh process
TARGET_RUN = "target-run"  # a run folder's run.json for a target other than the tutorial
TARGET_REPRO_MANIFEST = "target-repro-manifest"  # a target's repro set: its options and stack
TARGET_REPRO_CHECKS = "target-repro-checks"  # a target's repro set: every check, with figures
TARGET_RESUME_POINT = "target-resume-point"  # a target run's state at its checkpoint, by piece
TARGET_RESUMED = "target-resumed"  # a target run finished from its checkpoint, in a fresh process
# Not JSON: a torch file (linreg train --stop-at) that carries this kind among its entries.
TRAINING_CHECKPOINT = "linreg-training-checkpoint"
# Likewise, a target's (linreg train --target X --stop-at K).
TARGET_TRAINING_CHECKPOINT = "linreg-target-training-checkpoint"
# pytest-benchmark's own files carry no kind: they are recognised by their top-level keys.
BENCH = "pytest-benchmark"

RUN_KINDS = (RUN, REPRO_RUN)
SCHEMA_VERSIONS = {
    RUN: 1,
    REPRO_RUN: 1,
    REPRO_MANIFEST: 2,
    REPRO_CHECKS: 2,
    SWEEP: 1,
    NOISE_FLOOR: 2,
    SPEED_VERDICT: 4,
    AB: 1,
    MAIN_JOB: 2,
    GPU_RUN: 1,
    REPRO_RESUME_POINT: 1,
    REPRO_RESUMED: 1,
    TARGET_RUN: 1,
    TARGET_REPRO_MANIFEST: 1,
    TARGET_REPRO_CHECKS: 1,
    TARGET_RESUME_POINT: 1,
    TARGET_RESUMED: 1,
}
# Older schema versions this linreg still reads, each upgraded by its loader.
OLDER_READABLE = {SPEED_VERDICT: (1, 2, 3), MAIN_JOB: (1,), NOISE_FLOOR: (1,)}

# The files the kinds are written to, named once.
RUN_FILE = "run.json"  # in a run folder
REPRO_MANIFEST_FILE = "manifest.json"  # in a repro result set
REPRO_CHECKS_FILE = "checks.json"
REPRO_COPIES = ("first", "second")  # a repro set's two copies of its matrix, one folder each
SPEED_VERDICT_FILE = "speed-verdict.json"
AB_FILE = "ab.json"
MAIN_JOB_FILE = "job.json"
GPU_RUN_FILE = "summary.json"


def noise_floor_file(session: str) -> str:
    """Beside the machine's benchmark files: one per session that measured it."""
    return f"noise-{session}.json"


# UTC, sortable as text, microseconds so that two results of one second do not collide.
STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"


def utc_stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime(STAMP_FORMAT)


def kind_of(data: JsonObject) -> str | None:
    """The kind of a parsed result file, or None for a file linreg does not read."""
    if "benchmarks" in data and "machine_info" in data:
        return BENCH
    kind = data.get("kind")
    return kind if kind in SCHEMA_VERSIONS else None


def envelope(kind: str, body: JsonObject) -> JsonObject:
    """A record as written to disk: its kind and schema version, then its body."""
    return {"schema_version": SCHEMA_VERSIONS[kind], "kind": kind, **body}
