"""Two result sets side by side: numerics per matched run, speed per benchmark session.

The sides are named by role: the reference (what the candidate is judged against: a baseline,
the base branch, the older stack) and the candidate (the change). Benchmark files are read as
sessions (the processes of one `linreg bench` run); a side holding several sessions of one
machine means its newest, and the comparison names the session it took. Runs alike: of several
runs of one label a side means the newest, named in ``choices``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from linreg.compare.explain_cases import explained
from linreg.compare.pair_rule import PairJudgement, judge_pair, same_stack
from linreg.compare.pairing import match_sessions, only_in
from linreg.compare.runs import compare_runs
from linreg.compare.speed import DEFAULT_ALPHA, DEFAULT_INSTRUCTION_THRESHOLD, judge_sessions
from linreg.compare.target_versions import align_versions
from linreg.env_diff import diff_environments
from linreg.errors import ResultSetError
from linreg.results.noise_floor import NoiseFloor
from linreg.results.resultset import ResultSet, load_result_set
from linreg.results.run_comparison import Comparison
from linreg.results.speed_verdict import CaseVerdict, SpeedVerdict
from linreg.run import Run
from linreg.tolerance import Tolerances


@dataclass(frozen=True)
class SetComparison:
    reference_source: str
    candidate_source: str
    numerics: list[Comparison]
    speed: list[SpeedVerdict]
    # Each of ``numerics`` judged by what its pair must reach (linreg.compare.pair_rule).
    judgements: list[PairJudgement]
    environment_diff: dict[str, tuple[Any, Any]]  # key → (reference's value, candidate's value)
    unmatched: list[str] = field(default_factory=list)
    # Which run a side took for a label several of its runs share (its newest), one line each.
    choices: list[str] = field(default_factory=list)
    # The runs behind each of ``numerics``: (candidate, reference), for a replay that explains.
    run_pairs: list[tuple[Run, Run]] = field(default_factory=list)

    @property
    def numeric_failures(self) -> list[PairJudgement]:
        return [j for j in self.judgements if not j.holds]

    @property
    def regressions(self) -> list[CaseVerdict]:
        return [case for verdict in self.speed for case in verdict.regressions]

    @property
    def ok(self) -> bool:
        return not self.numeric_failures and not self.regressions


def compare_result_sets(
    reference_path: str | Path,
    candidate_path: str | Path,
    tolerances: Tolerances,
    regression_threshold: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    instruction_threshold: float = DEFAULT_INSTRUCTION_THRESHOLD,
) -> SetComparison:
    """The candidate set against the reference set. Runs pair up by label; one run on each side
    pairs up whatever its label, so two single runs from different devices or dtypes compare.
    Benchmark sessions pair up by machine; one session on each side pairs up whatever its machine
    (and its verdict is then information, not a gate). ``regression_threshold`` None: no
    gate, the verdicts are reported only."""
    reference, candidate = load_result_set(reference_path), load_result_set(candidate_path)
    pairs, unmatched = _match_runs(reference, candidate)
    try:
        judgements = judge_run_pairs(pairs, tolerances)
    except ValueError as exc:
        raise ResultSetError(f"{reference_path} vs {candidate_path}: {exc}") from exc
    session_pairs, unmatched_sessions = match_sessions(reference, candidate)
    speed = []
    for ref, cand in session_pairs:
        # Two versions of a target share no case id: paired by id without the hash, and said.
        cand, versions = align_versions(ref, cand)
        verdict = judge_sessions(
            ref,
            cand,
            threshold=regression_threshold,
            alpha=alpha,
            instruction_threshold=instruction_threshold,
            noise=_noise_floor(reference, candidate, ref.machine),
        )
        # Where an instruction case moved, the functions that moved it.
        speed.append(replace(verdict, cases=tuple(explained(verdict.cases, ref, cand)),
                             notes=(*versions, *verdict.notes)))  # fmt: skip
    return SetComparison(
        reference_source=str(reference_path),
        candidate_source=str(candidate_path),
        numerics=[j.comparison for j in judgements],
        speed=speed,
        judgements=judgements,
        environment_diff=diff_environments(reference.environment, candidate.environment),
        unmatched=unmatched + unmatched_sessions,
        choices=[c.describe("reference") for c in reference.choices]
        + [c.describe("candidate") for c in candidate.choices],
        run_pairs=[(cand, ref) for (_, ref), (_, cand) in pairs],
    )


def _noise_floor(reference: ResultSet, candidate: ResultSet, machine: str) -> NoiseFloor | None:
    """The machine's noise floor from whichever side holds one (`linreg bench --processes 8`
    stores it beside the run it measured, often the candidate), the one over more sessions."""
    found = [f for f in (reference.noise_floor(machine), candidate.noise_floor(machine)) if f]
    return max(found, key=lambda f: (f.sessions, f.processes)) if found else None


def judge_run_pairs(
    pairs: Sequence[tuple[tuple[str, Run], tuple[str, Run]]], tolerances: Tolerances
) -> list[PairJudgement]:
    """Each ((reference label, run), (candidate label, run)) pair compared and judged by what
    its pair must reach; ValueError where two runs cannot be compared epoch by epoch."""
    judged = []
    for (ref_label, ref), (label, cand) in pairs:
        comparison = compare_runs(
            cand, ref, tolerances, candidate_label=label, reference_label=ref_label
        )
        on_same_stack = same_stack(cand.environment, ref.environment)
        judged.append(judge_pair(comparison, cand.config, ref.config, on_same_stack))
    return judged


def match_runs(
    reference: Mapping[str, Run], candidate: Mapping[str, Run]
) -> tuple[list[tuple[tuple[str, Run], tuple[str, Run]]], list[str]]:
    """Runs paired by label; one run on each side pairs up whatever its label. The lines say
    which labels one side holds alone."""
    if len(reference) == 1 and len(candidate) == 1:
        return [(next(iter(reference.items())), next(iter(candidate.items())))], []
    common = sorted(set(reference) & set(candidate))
    pairs = [((k, reference[k]), (k, candidate[k])) for k in common]
    return pairs, only_in("run", reference, candidate)


def _match_runs(reference: ResultSet, candidate: ResultSet):
    return match_runs(reference.runs, candidate.runs)
