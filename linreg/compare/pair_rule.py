"""What a pair of runs must reach, by what differs between them: one rule, whichever command
judges the pair (`linreg repro`'s checks, `linreg compare`, the report of two run folders).

- the same config on the same stack: bit-identical (``a``);
- the same config on another stack (another torch, Python, CPU capability, thread count or
  linreg commit): within tolerance over the whole run (``b``), as `linreg ab` asks;
- another dtype: the same outcome (``c``): L1's gradient is a sign, so SGD ends in a limit cycle
  whose final bits no two dtypes share;
- another thread count, engine or device: within tolerance as long as the pair's twin (the CPU
  one-thread eager run of its dtype) agrees with float64, then the same outcome (``b-horizon``);
- TF32 on against off: the same outcome; nondeterministic algorithms: ``b-horizon``;
- configs that differ in anything else (seed, learning rate, data): within tolerance (``b``).

Where several axes differ the first of tf32, nondeterministic, device, engine, threads, dtype
names the pair, as `linreg repro` names a run's pair by what differs from its twin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linreg.compare.runs import meets
from linreg.config import TrainConfig
from linreg.results.run_comparison import Comparison
from linreg.stack import stack_key

# Which level each kind of pair must reach (see linreg.compare.runs for the levels); `linreg
# repro --require PAIR=LEVEL` overrides them.
DEFAULT_REQUIREMENTS = {
    "determinism": "a",  # the same config on the same stack, in another process
    "threads": "b-horizon",
    "device": "b-horizon",
    "engine": "b-horizon",
    "dtype": "c",
    "golden": "b",
    # TF32 keeps 10 mantissa bits of each float32 matmul input: a TF32 run leaves float32's
    # tolerance within a few epochs, so only the outcome can be asked of it (the level it
    # reaches, against its TF32-off twin, is the finding).
    "tf32": "c",
    # Algorithms free to reorder their reductions may differ in the last bits, which L1's limit
    # cycle amplifies; ask what other stacks are asked: agreement within tolerance as long as
    # the deterministic twin agrees with float64, then the outcome.
    "nondeterministic": "b-horizon",
}
# Pairs no repro matrix holds (it runs one stack, and compares no two trainings), which
# `linreg compare` and the report meet: one config on two stacks, and two trainings.
STACK, TRAINING = "stack", "training"
OTHER_REQUIREMENTS = {STACK: "b", TRAINING: "b"}

# The axes that name a pair, in the order repro names them.
_AXES = ("tf32", "nondeterministic", "device", "engine", "threads", "dtype")
# Fingerprint entries besides the stack key that change a run's bits on one config.
_NUMERIC_ENTRIES = ("num_threads", "env", "gpus", "linreg_commit")


def same_stack(candidate: Mapping[str, Any], reference: Mapping[str, Any]) -> bool:
    """Would one config give the same bits on both fingerprints: the same stack key (torch
    build, Python, OS, CPU capability), threads, numeric environment variables, GPUs and linreg
    commit."""
    if stack_key(candidate) != stack_key(reference):
        return False
    return all(candidate.get(k) == reference.get(k) for k in _NUMERIC_ENTRIES)


def pair_kind(candidate: TrainConfig, reference: TrainConfig, on_same_stack: bool = True) -> str:
    """What differs between the pair's configs, as the kind of pair it makes."""
    differs = {
        "tf32": candidate.tf32 != reference.tf32,
        "nondeterministic": candidate.deterministic != reference.deterministic,
        "device": candidate.device.split(":")[0] != reference.device.split(":")[0],
        "engine": candidate.engine != reference.engine,
        "threads": candidate.threads != reference.threads,
        "dtype": candidate.dtype != reference.dtype,
    }
    found = next((axis for axis in _AXES if differs[axis]), None)
    if found is not None:
        return found
    if training_fields(candidate, reference):
        return TRAINING
    return "determinism" if on_same_stack else STACK


def training_fields(candidate: TrainConfig, reference: TrainConfig) -> list[str]:
    """The config fields outside the axes that differ: what makes two trainings."""
    ours = {"tf32", "deterministic", "device", "engine", "threads", "dtype"}
    mine, theirs = candidate.to_dict(), reference.to_dict()
    return sorted(k for k in mine if k not in ours and mine[k] != theirs.get(k))


def requirement_for(kind: str, requirements: Mapping[str, str] | None = None) -> str:
    """The level a kind of pair must reach (``requirements``: repro's, with its overrides)."""
    table = {**DEFAULT_REQUIREMENTS, **OTHER_REQUIREMENTS, **(requirements or {})}
    return table[kind]


@dataclass(frozen=True)
class PairJudgement:
    """A pair of runs judged by its kind's requirement: what it needed and whether it held."""

    kind: str
    requirement: str  # one of linreg.compare.runs.REQUIREMENTS
    holds: bool
    reason: str
    comparison: Comparison
    # A b-horizon pair whose twin was not among the inputs: asked what ``requirement`` says
    # instead (the outcome, for two dtypes; the whole run within tolerance, for one).
    twin_missing: bool = False


def judge_pair(
    comparison: Comparison,
    candidate: TrainConfig,
    reference: TrainConfig,
    on_same_stack: bool,
    requirements: Mapping[str, str] | None = None,
    twin_horizon: int | None = None,
    twin_known: bool = False,
) -> PairJudgement:
    """``comparison`` (candidate against reference) judged by what its pair must reach.

    ``b-horizon`` asks for agreement as long as the twin's (``twin_horizon``, where
    ``twin_known``). Where the twin is not among the inputs: a pair of two dtypes is asked for
    what its dtype alone asks (the same outcome), any other for the whole run within tolerance
    (``twin_missing`` says so)."""
    kind = pair_kind(candidate, reference, on_same_stack)
    requirement = requirement_for(kind, requirements)
    missing = requirement == "b-horizon" and not twin_known
    if missing and candidate.dtype != reference.dtype:
        requirement = requirement_for("dtype", requirements)
    verdict = meets(comparison, requirement, twin_horizon if twin_known else None)
    return PairJudgement(kind, requirement, verdict.holds, verdict.reason, comparison, missing)
