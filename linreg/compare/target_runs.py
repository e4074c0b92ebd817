"""Two result sets of a target's runs (run folders of `linreg train --target` and `linreg run
--target`, a target repro set): runs paired by config id, which holds the target's code hash.

A run whose config matches the other side's in everything but the code hash is of another
version of the target: it is paired and its first difference said, as "another version of the
target", never judged as the same target. Runs with no partner on the other side are listed.
"""

from __future__ import annotations

from pathlib import Path

from linreg.errors import ResultSetError
from linreg.results import kinds
from linreg.results.load import load_result
from linreg.results.target_run_comparison import (
    ANOTHER_VERSION,
    DIFFERS,
    IDENTICAL,
    TargetRunComparison,
    TargetRunPair,
)
from linreg.results.walk import expand
from linreg.target_config import TargetConfig, TargetRef
from linreg.target_run import TargetRun


def target_runs(path: str | Path) -> list[TargetRun]:
    """Every target run record under ``path`` (a repro set holds each config twice: the first)."""
    runs: dict[tuple[str, str], TargetRun] = {}
    for file in expand(path):
        loaded = load_result(file)
        if loaded is not None and loaded.kind == kinds.TARGET_RUN:
            run = loaded.value
            runs.setdefault((run.config.config_id, run.state_hash), run)
    return list(runs.values())


def holds_target_runs(path: str | Path) -> bool:
    return bool(target_runs(path))


def _versionless(config: TargetConfig) -> str:
    """The config's id with its code hash left out: the same run of any version."""
    ref = config.target
    return config.replace(target=TargetRef(ref.spec, ref.name, "0" * 64)).config_id


def label(config: TargetConfig) -> str:
    return (f"{config.target.name} {config.size} {config.device} {config.dtype} seed "
            f"{config.seed} threads {config.threads or 'all'} {config.engine}")  # fmt: skip


def _stack(run: TargetRun) -> tuple:
    return (run.environment.get("torch"), run.environment.get("python"))


def _pair(reference: TargetRun, candidate: TargetRun, status: str) -> TargetRunPair:
    # Here, not at the top: `linreg compare` asks holds_target_runs of every folder, and
    # a folder of bench files or tutorial runs should not cost torch's import to answer.
    from linreg.compare.target_numerics import record_difference

    found = record_difference(candidate, reference)
    if status == IDENTICAL and found is not None:
        status = DIFFERS
    difference, step = found if found is not None else (None, None)
    return TargetRunPair(
        label(candidate.config),
        candidate.config.target.name,
        reference.config.target.code_hash,
        candidate.config.target.code_hash,
        status,
        difference,
        step,
        _stack(reference) == _stack(candidate),
    )


def compare_target_runs(
    reference_path: str | Path, candidate_path: str | Path
) -> TargetRunComparison:
    """The candidate's target runs against the reference's: same config id first (bit for
    bit), then the same config of another version of the target (information)."""
    reference, candidate = target_runs(reference_path), target_runs(candidate_path)
    if not reference or not candidate:
        empty = reference_path if not reference else candidate_path
        raise ResultSetError(f"{empty}: holds no target run to compare")
    by_id = {r.config.config_id: r for r in reference}
    by_version = {_versionless(r.config): r for r in reference}
    pairs, paired = [], set()
    unmatched = []
    for run in candidate:
        same = by_id.get(run.config.config_id)
        if same is not None:
            pairs.append(_pair(same, run, IDENTICAL))
            paired.add(same.config.config_id)
            continue
        other = by_version.get(_versionless(run.config))
        if other is not None:
            pairs.append(_pair(other, run, ANOTHER_VERSION))
            paired.add(other.config.config_id)
            continue
        unmatched.append(f"run only in the candidate: {label(run.config)}")
    unmatched += [f"run only in the reference: {label(r.config)}" for r in reference
                  if r.config.config_id not in paired]  # fmt: skip
    if not pairs:
        raise ResultSetError(f"{reference_path} vs {candidate_path}: no run of one config on "
                             f"both sides ({'; '.join(unmatched)})")  # fmt: skip
    return TargetRunComparison(str(reference_path), str(candidate_path), tuple(pairs),
                               tuple(unmatched))  # fmt: skip
