"""Two result sets side by side: numerics per matched run, timings per benchmark case."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linreg.compare import Comparison, compare_runs
from linreg.env import diff_environments
from linreg.errors import ResultSetError
from linreg.resultset import ResultSet, load_result_set
from linreg.timing_stats import DEFAULT_ALPHA, TimingComparison, compare_timings
from linreg.tolerance import Tolerances


@dataclass(frozen=True)
class SetComparison:
    source_a: str
    source_b: str
    numerics: list[Comparison]
    timings: list[TimingComparison]
    environment_diff: dict[str, tuple[Any, Any]]
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
    path_a: str | Path,
    path_b: str | Path,
    tolerances: Tolerances,
    regression_threshold: float | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> SetComparison:
    """B against A (A is the baseline). Runs pair up by label; one run on each side pairs up
    whatever its label, so two single runs from different devices or dtypes compare."""
    a, b = load_result_set(path_a), load_result_set(path_b)
    pairs, unmatched = _match_runs(a, b)
    try:
        numerics = [
            compare_runs(run_b, run_a, tolerances, label_a=f"B {lb}", label_b=f"A {la}")
            for (la, run_a), (lb, run_b) in pairs
        ]
    except ValueError as exc:
        raise ResultSetError(f"{path_a} vs {path_b}: {exc}") from exc
    timings = [
        compare_timings(case, a.timings[case], b.timings[case], alpha)
        for case in sorted(set(a.timings) & set(b.timings))
    ]
    unmatched += [f"timing case only in A: {c}" for c in sorted(set(a.timings) - set(b.timings))]
    unmatched += [f"timing case only in B: {c}" for c in sorted(set(b.timings) - set(a.timings))]
    return SetComparison(
        source_a=str(path_a),
        source_b=str(path_b),
        numerics=numerics,
        timings=timings,
        environment_diff=diff_environments(a.environment, b.environment),
        unmatched=unmatched,
        regression_threshold=regression_threshold,
    )


def _match_runs(a: ResultSet, b: ResultSet):
    if len(a.runs) == 1 and len(b.runs) == 1:
        return [(next(iter(a.runs.items())), next(iter(b.runs.items())))], []
    common = sorted(set(a.runs) & set(b.runs))
    pairs = [((k, a.runs[k]), (k, b.runs[k])) for k in common]
    unmatched = [f"run only in A: {k}" for k in sorted(set(a.runs) - set(b.runs))]
    unmatched += [f"run only in B: {k}" for k in sorted(set(b.runs) - set(a.runs))]
    return pairs, unmatched
