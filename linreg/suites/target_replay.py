"""Replaying pairs of a target's runs to name the quantity where they part.

Each side replays in a process of its own (one worker for every candidate config, one for every
reference config, side by side), as the runs themselves were trained: a thread count or a
determinism flag is a process's setting, and one process replaying both sides could carry one
side's state into the other's; a repro run hands each side to one of its copies' workers
(``linreg.suites.replay_sides``). Each replay keeps every quantity's digest at every step and the
values of a window of steps (``DEFAULT_KEEP_ELEMENTS`` values at most a side): for two runs of
one dtype, the steps up to the first train loss that differs; for two dtypes, from the start.
"""

from __future__ import annotations

from dataclasses import dataclass

from linreg.compare.target_first_difference import first_beyond_tolerance, first_difference
from linreg.compare.target_numerics import first_loss_difference, record_difference
from linreg.engines.target_trace import TargetTrace
from linreg.errors import LinregError
from linreg.results.target_repro_checks import TargetDifference
from linreg.suites.replay_sides import SideRunner, replayed
from linreg.target_config import TargetConfig
from linreg.target_run import TargetRun
from linreg.tolerance import Tolerance

# Values kept a side: 64 M elements are 512 MB of float64 on disk, a step's files at a time in
# memory; every step of the bundled transformer's ci size (2 M values a step) fits.
DEFAULT_KEEP_ELEMENTS = 64_000_000
DEFAULT_TIMEOUT_S = 600.0


class TargetReplayError(LinregError):
    """A replay worker failed or ran out of time."""


@dataclass(frozen=True)
class TargetReplayPair:
    """Two configs to replay through step ``until``, values kept from ``keep_from``; with a
    ``tolerance``, the walk looks for the first quantity beyond it (two dtypes), else for the
    first whose bits differ."""

    candidate: TargetConfig
    reference: TargetConfig
    until: int
    keep_from: int
    tolerance: Tolerance | None = None


def _steps_kept(run: TargetRun, keep_elements: int) -> int:
    """How many steps' values fit the budget: each step keeps the loss, a gradient and a value
    for every parameter, and every buffer."""
    parameters = sum(d.numel for d in run.parameters.values() if not d.buffer)
    buffers = sum(d.numel for d in run.parameters.values() if d.buffer)
    return max(1, keep_elements // max(1, 2 * parameters + buffers + 1))


def bitwise_pair(candidate: TargetRun, reference: TargetRun,
                 keep_elements: int = DEFAULT_KEEP_ELEMENTS) -> TargetReplayPair:  # fmt: skip
    """Two runs of one dtype: replayed to the first step whose train loss differs (its loss
    is computed from the parameters the step before left), values kept for the steps before
    it that fit."""
    until = first_loss_difference(candidate, reference)
    if until is None:
        found = record_difference(candidate, reference)
        until = found[1] if found is not None and found[1] is not None else candidate.steps - 1
    keep_from = max(0, until - _steps_kept(candidate, keep_elements) + 1)
    return TargetReplayPair(candidate.config, reference.config, until, keep_from)


def tolerance_pair(candidate: TargetRun, reference: TargetRun, tolerance: Tolerance,
                   keep_elements: int = DEFAULT_KEEP_ELEMENTS) -> TargetReplayPair:  # fmt: skip
    """Two dtypes: replayed from the start, as many steps as the budget keeps the values of."""
    until = min(candidate.steps, _steps_kept(reference, keep_elements)) - 1
    return TargetReplayPair(candidate.config, reference.config, until, 0, tolerance)


def _jobs(jobs: list[tuple[TargetConfig, int, int]]) -> list[dict]:
    return [{"config": c.to_dict(), "until": until, "keep_from": keep}
            for c, until, keep in jobs]  # fmt: skip


def _deduplicated(jobs: list[tuple[TargetConfig, int, int]]) -> tuple[list, list[int]]:
    """Each config once, through the furthest step asked of it, values from the earliest; and
    where each job's trace is."""
    merged: dict[str, tuple[TargetConfig, int, int]] = {}
    for config, until, keep in jobs:
        known = merged.get(config.config_id)
        if known is not None:
            until, keep = max(until, known[1]), min(keep, known[2])
        merged[config.config_id] = (config, until, keep)
    order = list(merged)
    return list(merged.values()), [order.index(c.config_id) for c, _, _ in jobs]


def replay(
    pairs: list[TargetReplayPair],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    sides: tuple[SideRunner, SideRunner] | None = None,
) -> list[TargetDifference]:
    """Each pair's finding: the first differing quantity, or the first beyond tolerance.
    ``sides``: where the candidates and the references replay (a worker started for each
    side by default)."""
    if not pairs:
        return []
    candidates, where_c = _deduplicated([(p.candidate, p.until, p.keep_from) for p in pairs])
    references, where_r = _deduplicated([(p.reference, p.until, p.keep_from) for p in pairs])
    jobs = (_jobs(candidates), _jobs(references))
    module = "linreg.suites.target_replay_worker"
    with replayed(jobs, timeout_s, sides, module, TargetReplayError) as (folder_c, folder_r):
        found = []
        for pair, wc, wr in zip(pairs, where_c, where_r, strict=True):
            candidate = TargetTrace.load(folder_c / str(wc))
            reference = TargetTrace.load(folder_r / str(wr))
            if pair.tolerance is None:
                found.append(first_difference(candidate, reference, pair.until))
            else:
                found.append(first_beyond_tolerance(candidate, reference, pair.tolerance,
                                                    pair.until))  # fmt: skip
        return found
