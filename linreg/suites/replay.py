"""Replaying pairs of runs to say which quantity diverged first.

Each side replays in a process of its own (one worker for every candidate config, one for every
reference config, side by side), as the runs themselves were trained: a thread count, a
determinism flag or a device is a process's setting, and one process replaying both sides could
carry one side's state into the other's. The traces come back through a folder. A repro run
hands each side to one of its two copies' workers, which trained the runs (``sides``:
``linreg.suites.replay_sides``); ``linreg compare`` starts a worker for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from linreg.compare.first_difference import (
    Explanation,
    explain,
    history_difference,
    replay_epoch,
)
from linreg.config import TrainConfig
from linreg.engines.trace import DEFAULT_KEEP_ELEMENTS, Trace
from linreg.errors import LinregError
from linreg.results.run_comparison import Comparison
from linreg.run import Run
from linreg.suites.replay_sides import SideRunner, replayed
from linreg.tolerance import Tolerance

# A replay is at most one run per config: bounded like a repro worker's share of the matrix.
DEFAULT_TIMEOUT_S = 600.0


class ReplayError(LinregError):
    """A replay worker failed or ran out of time."""


@dataclass(frozen=True)
class ReplayPair:
    """Two configs to replay up to (and including) ``until``, the epoch the histories name."""

    candidate: TrainConfig
    reference: TrainConfig
    until: int
    tolerance: Tolerance


def _jobs(configs: list[tuple[TrainConfig, int]]) -> list[dict]:
    return [{"config": c.to_dict(), "until": until, "keep_elements": DEFAULT_KEEP_ELEMENTS}
            for c, until in configs]  # fmt: skip


def _traces(folder: Path, count: int) -> list[Trace]:
    import torch

    return [
        Trace.from_dict(torch.load(folder / f"{i}.pt", weights_only=True)) for i in range(count)
    ]


def _deduplicated(configs: list[tuple[TrainConfig, int]]) -> tuple[list, list[int]]:
    """Each config once, to the furthest epoch asked of it; and where each job's trace is."""
    furthest: dict[str, tuple[TrainConfig, int]] = {}
    for config, until in configs:
        known = furthest.get(config.config_id)
        furthest[config.config_id] = (config, max(until, known[1] if known else until))
    order = list(furthest)
    return list(furthest.values()), [order.index(c.config_id) for c, _ in configs]


def replay(
    pairs: list[ReplayPair],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    sides: tuple[SideRunner, SideRunner] | None = None,
) -> list[Explanation]:
    """Each pair's explanation: the first differing quantity, or the horizon's cause.
    ``sides``: where the candidates and the references replay (a worker started for each
    side by default)."""
    if not pairs:
        return []
    candidates, where_c = _deduplicated([(p.candidate, p.until) for p in pairs])
    references, where_r = _deduplicated([(p.reference, p.until) for p in pairs])
    jobs = (_jobs(candidates), _jobs(references))
    with replayed(jobs, timeout_s, sides, "linreg.suites.replay_worker", ReplayError) as folders:
        traces_c, traces_r = (_traces(f, len(j)) for f, j in zip(folders, jobs, strict=True))
    return [
        explain(_cut(traces_c[wc], pair.until), _cut(traces_r[wr], pair.until), pair.tolerance)
        for pair, wc, wr in zip(pairs, where_c, where_r, strict=True)
    ]


def _cut(trace: Trace, until: int) -> Trace:
    """A trace to ``until``: one replayed further for another pair says nothing beyond it."""
    end = until + 1
    return Trace(trace.config, trace.dtype, trace.targets, trace.values[:end], trace.digests[:end])


def replayable_here(run: Run) -> str | None:
    """Why ``run`` cannot be replayed in this process's stack, or None when it can."""
    import torch

    from linreg.numerics import resolve_device

    stored = run.environment.get("torch")
    if stored != torch.__version__:
        return f"it ran on torch {stored}, this is {torch.__version__}"
    try:
        resolve_device(run.config.device)
    except LinregError as exc:
        return str(exc)
    return None


def explain_pairs(
    pairs: list[tuple[Run, Run, Comparison]], timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[Explanation | None]:
    """For each (candidate, reference, comparison) that is not bit-identical: both replayed
    where both can be here; else where it parts by the histories (a run of another stack
    cannot be replayed, as a golden reference cannot). None where there is nothing to say."""
    found: list[Explanation | None] = [None] * len(pairs)
    to_replay, where = [], []
    for index, (candidate, reference, comparison) in enumerate(pairs):
        if comparison.level == "a":
            continue
        until = replay_epoch(comparison, candidate.config.epochs)
        if until is None:
            continue
        if replayable_here(candidate) is None and replayable_here(reference) is None:
            to_replay.append(
                ReplayPair(candidate.config, reference.config, until, comparison.tolerance)
            )
            where.append(index)
        else:
            found[index] = history_difference(candidate, reference)
    for index, explanation in zip(where, replay(to_replay, timeout_s), strict=True):
        found[index] = explanation
    return found
