"""Two result sets side by side: numerics per matched run, timings per benchmark case.

The sides are named by role: the reference (what the candidate is judged against: a baseline,
the base branch, the older stack) and the candidate (the change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linreg.compare.runs import Comparison, compare_runs
from linreg.compare.timing import DEFAULT_ALPHA, TimingComparison, compare_timings
from linreg.env_diff import diff_environments
from linreg.errors import ResultSetError
from linreg.results.resultset import ResultSet, load_result_set
from linreg.tolerance import Tolerances


@dataclass(frozen=True)
class SetComparison:
    reference_source: str
    candidate_source: str
    numerics: list[Comparison]
    timings: list[TimingComparison]
    environment_diff: dict[str, tuple[Any, Any]]  # key → (reference's value, candidate's value)
    unmatched: list[str] = field(default_factory=list)
    regression_threshold: float | None = None

    @property
    def numeric_failures(self) -> list[Comparison]:
        return [c for c in self.numerics if not c.within_tolerance]

    @property
    def regressions(self) -> list[TimingComparison]:
        if self.regression_threshold is None:
            return []
        return [t for t in self.timings if t.is_regression(self.regression_threshold)]

    @property
    def ok(self) -> bool:
        return not self.numeric_failures and not self.regressions


def compare_result_sets(
    reference_path: str | Path,
    candidate_path: str | Path,
    tolerances: Tolerances,
    regression_threshold: float | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> SetComparison:
    """The candidate set against the reference set. Runs pair up by label; one run on each side
    pairs up whatever its label, so two single runs from different devices or dtypes compare."""
    reference, candidate = load_result_set(reference_path), load_result_set(candidate_path)
    pairs, unmatched = _match_runs(reference, candidate)
    try:
        numerics = [
            compare_runs(cand, ref, tolerances, candidate_label=label, reference_label=ref_label)
            for (ref_label, ref), (label, cand) in pairs
        ]
    except ValueError as exc:
        raise ResultSetError(f"{reference_path} vs {candidate_path}: {exc}") from exc
    ref_timings, cand_timings = _rounds(reference), _rounds(candidate)
    timings = [
        compare_timings(case, ref_timings[case], cand_timings[case], alpha)
        for case in sorted(set(ref_timings) & set(cand_timings))
    ]
    unmatched += [
        f"timing case only in the reference: {c}"
        for c in sorted(set(ref_timings) - set(cand_timings))
    ]
    unmatched += [
        f"timing case only in the candidate: {c}"
        for c in sorted(set(cand_timings) - set(ref_timings))
    ]
    return SetComparison(
        reference_source=str(reference_path),
        candidate_source=str(candidate_path),
        numerics=numerics,
        timings=timings,
        environment_diff=diff_environments(reference.environment, candidate.environment),
        unmatched=unmatched,
        regression_threshold=regression_threshold,
    )


def _rounds(result: ResultSet) -> dict[str, list[float]]:
    rounds: dict[str, list[float]] = {}
    for bench in result.bench_files:
        for case in bench.cases:
            rounds.setdefault(case.fullname, list(case.rounds))
    return rounds


def _match_runs(reference: ResultSet, candidate: ResultSet):
    if len(reference.runs) == 1 and len(candidate.runs) == 1:
        return [(next(iter(reference.runs.items())), next(iter(candidate.runs.items())))], []
    common = sorted(set(reference.runs) & set(candidate.runs))
    pairs = [((k, reference.runs[k]), (k, candidate.runs[k])) for k in common]
    unmatched = [
        f"run only in the reference: {k}" for k in sorted(set(reference.runs) - set(candidate.runs))
    ]
    unmatched += [
        f"run only in the candidate: {k}" for k in sorted(set(candidate.runs) - set(reference.runs))
    ]
    return pairs, unmatched
