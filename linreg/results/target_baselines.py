"""Committed baselines of a target's bench cases, one folder per target version.

A target's baselines live apart from the tutorial's, under
``results/baselines/targets/<name>-<code hash>/`` (a checkout's; installed, the results root's:
``linreg.paths.target_baselines_root``): ``bench/<machine>/`` (wall time, per
machine) and ``instructions/<stack key>/`` (the gate, per stack). Apart, because the tutorial's
gate reads the newest session of its stack's folder: a target's session stored there would
become that newest and leave the tutorial's cases without a baseline. Per version, because a
target's code hash is part of its identity: the baseline of another hash is never this one's.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from linreg.paths import target_baselines_root
from linreg.results.bench_sessions import BenchSession
from linreg.results.instruction_baselines import (
    newest_instruction_baseline,
    store_instruction_baselines,
)
from linreg.target_config import TargetRef


def version_folder(ref: TargetRef, root: Path | None = None) -> Path:
    """The folder of one version of a target: ``<name>-<short code hash>``."""
    return Path(root or target_baselines_root()) / f"{ref.name}-{ref.short_hash}"


def wall_root(ref: TargetRef, root: Path | None = None) -> Path:
    """Where `linreg bench --target --baseline` stores its sessions (``<machine>/`` below)."""
    return version_folder(ref, root) / "bench"


def instruction_root(ref: TargetRef, root: Path | None = None) -> Path:
    return version_folder(ref, root) / "instructions"


def newest_target_baseline(
    ref: TargetRef, key: str, root: Path | None = None
) -> BenchSession | None:
    """The newest counted session of this target version on stack ``key``, or None."""
    return newest_instruction_baseline(key, instruction_root(ref, root))


def store_target_baselines(
    paths: Iterable[Path], ref: TargetRef, root: Path | None = None
) -> list[Path]:
    """Each bench file holding counts, as this target version's baseline of its stack."""
    return store_instruction_baselines(paths, instruction_root(ref, root))


def no_baseline_words(ref: TargetRef, key: str) -> str:
    return f"no baseline for target {ref.name} at code hash {ref.short_hash} on stack {key}"
