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
from fractions import Fraction

from linreg.results.op_changes import (
    FEWER,
    GONE,
    MORE,
    MOVED,
    NEW,
    OpDelta,
    OpEvidence,
    SiteDelta,
)
from linreg.results.op_counts import OpCount, OpCounts, OpSite

__all__ = ["FEWER", "GONE", "MORE", "MOVED", "NEW", "OpDelta", "SiteDelta", "op_deltas",
           "op_evidence", "same_ops", "stack_differences"]  # fmt: skip


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


def op_evidence(reference: OpCounts, candidate: OpCounts) -> OpEvidence:
    """The two counts of a case as the speed verdict keeps them: every changed op with its
    lines, the ops a step on each side, and what besides the code tells the records apart."""
    return OpEvidence(
        reference_per_step=float(_total(reference)),
        candidate_per_step=float(_total(candidate)),
        changes=op_deltas(reference, candidate),
        op_names=tuple(sorted(set(reference.by_op()) | set(candidate.by_op()))),
        stack_differences=stack_differences(reference, candidate),
    )


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


def _total(counts: OpCounts) -> Fraction:
    return Fraction(sum(count.calls for count in counts.ops), counts.steps_counted)


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
