"""Two op counts of a case, reference and candidate: which ops a step makes more or less often,
and from which lines.

Op counts are deterministic (the same code on the same stack makes the same ops on every run),
so there is no noise threshold: any difference is a finding, and "no change" is exact equality
of every op's count and every site's count per step. Counts are compared per step, as exact
fractions, so that a train case counted over 500 steps and one counted over 50 compare alike.
Labels only: the report and the CLI say it in words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from linreg.results.op_counts import OpCount, OpCounts, OpSite

# OpDelta.change and SiteDelta.change
NEW, GONE, MORE, FEWER, MOVED = "new", "gone", "more", "fewer", "moved"


@dataclass(frozen=True)
class SiteDelta:
    """One line's calls of an op per step, on each side (0 where the side has no such site)."""

    file: str
    line: int
    function: str
    code: str
    graph: bool
    reference_per_step: float
    candidate_per_step: float

    @property
    def delta(self) -> float:
        return self.candidate_per_step - self.reference_per_step

    @property
    def change(self) -> str:
        return _change(self.reference_per_step, self.candidate_per_step)


@dataclass(frozen=True)
class OpDelta:
    """One op's calls per step on each side, and the sites whose calls changed (new sites
    first, then by the size of their change). ``change`` is MOVED where the op's count per step
    is the same but its calls came from other lines."""

    op: str
    reference_per_step: float
    candidate_per_step: float
    sites: tuple[SiteDelta, ...]

    @property
    def delta(self) -> float:
        return self.candidate_per_step - self.reference_per_step

    @property
    def change(self) -> str:
        if self.reference_per_step == self.candidate_per_step:
            return MOVED
        return _change(self.reference_per_step, self.candidate_per_step)


def op_deltas(reference: OpCounts, candidate: OpCounts) -> tuple[OpDelta, ...]:
    """Every op whose count per step, or whose count per step at some line, differs; the
    largest change first (then by op name). Empty exactly when ``same_ops``."""
    ref_ops, cand_ops = reference.by_op(), candidate.by_op()
    found = []
    for op in sorted(set(ref_ops) | set(cand_ops)):
        ref_calls = _per_step(reference, ref_ops.get(op))
        cand_calls = _per_step(candidate, cand_ops.get(op))
        sites = _site_deltas(reference, ref_ops.get(op), candidate, cand_ops.get(op))
        if ref_calls != cand_calls or sites:
            found.append(OpDelta(op, float(ref_calls), float(cand_calls), sites))
    return tuple(sorted(found, key=lambda d: (-abs(Fraction(d.delta)), d.op)))


def same_ops(reference: OpCounts, candidate: OpCounts) -> bool:
    """True when a step makes the same ops, as often, from the same lines, on both sides: a
    change of time or instructions is then inside the ops, not in which ops run."""
    return _exact(reference) == _exact(candidate)


def stack_differences(reference: OpCounts, candidate: OpCounts) -> tuple[str, ...]:
    """The fields of the two records that make their counts differ for reasons other than the
    code ("device", "torch", "engine"): the ops a step makes depend on them."""
    pairs = (
        ("device", reference.device, candidate.device),
        ("torch", reference.torch_version, candidate.torch_version),
        ("engine", reference.engine, candidate.engine),
    )
    return tuple(name for name, ref, cand in pairs if ref != cand)


def _per_step(counts: OpCounts, count: OpCount | None) -> Fraction:
    return Fraction(0) if count is None else Fraction(count.calls, counts.steps_counted)


def _exact(counts: OpCounts) -> dict[tuple, Fraction]:
    steps = counts.steps_counted
    return {
        (count.op, *site.key): Fraction(site.calls, steps)
        for count in counts.ops
        for site in count.sites
    }


def _site_deltas(
    reference: OpCounts,
    ref_count: OpCount | None,
    candidate: OpCounts,
    cand_count: OpCount | None,
) -> tuple[SiteDelta, ...]:
    ref_sites, cand_sites = _sites(ref_count), _sites(cand_count)
    changed = []
    for key in set(ref_sites) | set(cand_sites):
        ref_site, cand_site = ref_sites.get(key), cand_sites.get(key)
        ref_calls = Fraction(ref_site.calls if ref_site else 0, reference.steps_counted)
        cand_calls = Fraction(cand_site.calls if cand_site else 0, candidate.steps_counted)
        if ref_calls == cand_calls:
            continue
        site = cand_site or ref_site
        delta = SiteDelta(
            site.file, site.line, site.function, site.code, site.graph,
            float(ref_calls), float(cand_calls),
        )  # fmt: skip
        # New sites first, then the largest change, then by place (a stable order).
        changed.append(((ref_calls != 0, -abs(cand_calls - ref_calls), key), delta))
    return tuple(delta for _, delta in sorted(changed, key=lambda c: c[0]))


def _sites(count: OpCount | None) -> dict[tuple, OpSite]:
    sites: Iterable[OpSite] = () if count is None else count.sites
    return {site.key: site for site in sites}


def _change(reference: float, candidate: float) -> str:
    if reference == 0:
        return NEW
    if candidate == 0:
        return GONE
    return MORE if candidate > reference else FEWER
