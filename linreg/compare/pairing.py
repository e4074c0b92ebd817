"""Which sessions of two result sets are compared: each machine's newest on both sides."""

from __future__ import annotations

from linreg.results.bench_sessions import BenchSession, newest_per_machine
from linreg.results.resultset import ResultSet


def match_sessions(
    reference: ResultSet, candidate: ResultSet
) -> tuple[list[tuple[BenchSession, BenchSession]], list[str]]:
    """The sessions to compare, (reference, candidate) by machine, and what pairs with none."""
    ref = {s.machine: s for s in newest_per_machine(reference.bench_files)}
    cand = {s.machine: s for s in newest_per_machine(candidate.bench_files)}
    if len(ref) == 1 and len(cand) == 1:
        return [(next(iter(ref.values())), next(iter(cand.values())))], []
    pairs = [(ref[m], cand[m]) for m in sorted(set(ref) & set(cand))]
    return pairs, only_in("benchmarks of machine", ref, cand)


def only_in(what: str, reference: dict, candidate: dict) -> list[str]:
    only_ref = [
        f"{what} only in the reference: {k}" for k in sorted(set(reference) - set(candidate))
    ]
    only_cand = [
        f"{what} only in the candidate: {k}" for k in sorted(set(candidate) - set(reference))
    ]
    return only_ref + only_cand
