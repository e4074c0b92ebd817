"""Speed verdicts: slower, faster, no change beyond the threshold, or undecided — each earned.

The sample is one figure per process: a case's median over its rounds in one process is one
sample, because rounds inside one process share its machine state (caches, frequency, where the
scheduler put its threads) and are not independent.

Two metrics:
- wall time: the shift of the candidate's per-process log times against the reference's, with
  a distribution-free interval (``linreg.compare.shift``). A case is ``slower``/``faster`` when
  the multiplicity-adjusted test rejects and its interval lies wholly beyond the threshold,
  ``no change`` when its interval lies wholly inside ±threshold (equivalence: the two one-sided
  tests), and ``undecided`` otherwise, with the processes a side that would decide it;
- instruction counts (callgrind, CPU only): deterministic to a fraction of a percent, so one
  process per side decides; beyond the threshold and twice the noise floor is a change;
- op counts (the aten ops a step makes, any device): exact, so one process per side decides and
  any op a step makes more or less often is a change. They decide a case only where it has no
  instruction counts (CUDA, no Valgrind); beside an instruction case they explain it.

Either gates only when both sides come from the same machine: across machines, wall time and
instruction counts (other CPUs run other kernels) are information, never a verdict.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from linreg.compare.op_delta import op_evidence
from linreg.compare.power import power_table
from linreg.compare.session_term import (
    BOUNDED,
    SessionTerm,
    alternate,
    session_term,
    too_wide_reason,
    unknown_reason,
)
from linreg.compare.shift import Shift, smallest_p
from linreg.compare.wall_units import check_units
from linreg.errors import ConfigError
from linreg.results.bench_sessions import BenchSession, CaseSamples, session_samples
from linreg.results.noise_floor import NoiseFloor, log_sd, spread
from linreg.results.op_changes import OpEvidence
from linreg.results.speed_verdict import (
    FASTER,
    INFORMATION,
    INSTRUCTIONS,
    NO_CHANGE,
    NO_REGRESSION,
    OPS,
    REGRESSED,
    SLOWER,
    UNDECIDED,
    UNDECIDED_VERDICT,
    WALL,
    CaseVerdict,
    SpeedVerdict,
    cleared,
)
from linreg.units import percent

DEFAULT_ALPHA = 0.01
# The wall-time threshold a comparison reports at when no gate names one (and the main job's).
DEFAULT_WALL_THRESHOLD = 0.10
# Counts repeat within 0.4 % for the same code, but an unrelated change to linreg's own Python
# (another file, another order of cases) moved the small inference cases by up to 2.6 % while
# their kernels did the same work: 3 % keeps that quiet and still sees a 5 % slowdown.
DEFAULT_INSTRUCTION_THRESHOLD = 0.03
# A case whose processes disagree by more than this (one median more than 1.5x another) is
# scheduling-bound or bimodal: flagged, and decided only where its interval is clear.
UNSTABLE_SPREAD = 0.5


def check_alpha(alpha: float) -> None:
    if not (math.isfinite(alpha) and 0 < alpha < 0.5):
        raise ConfigError("alpha", f"must be in (0, 0.5), e.g. 0.01 for 99 % confidence, got "
                                   f"{alpha!r}")  # fmt: skip


@dataclass(frozen=True)
class _WallCase:
    """A wall-time case's evidence before the comparison-wide multiplicity step."""

    case: str
    reference: tuple[float, ...]
    candidate: tuple[float, ...]
    shift: Shift
    term: SessionTerm  # the between-session term its interval carries
    testable: bool  # can these processes reach the confidence level at all?
    p_slower: float = 1.0
    p_faster: float = 1.0

    @property
    def p(self) -> float:
        return min(1.0, 2 * min(self.p_slower, self.p_faster))


def _wall_case(
    case: str, ref: Sequence[float], cand: Sequence[float], bound: float, alpha: float,
    term: SessionTerm,
) -> _WallCase:  # fmt: skip
    shift = Shift.of(ref, cand, term.scale, term.degrees)
    testable = (smallest_p(len(ref), len(cand)) <= alpha and math.isfinite(shift.resolution)
                and term.known)  # fmt: skip
    if not testable:
        return _WallCase(case, tuple(ref), tuple(cand), shift, term, False)
    return _WallCase(case, tuple(ref), tuple(cand), shift, term, True,
                     shift.p_above(bound), shift.p_below(-bound))  # fmt: skip


@dataclass(frozen=True)
class WallDecision:
    """One case's outcome under the wall-time rule and what earned it: the case's evidence, the
    confidence its interval is stated at, whether Benjamini–Hochberg selected it (with its
    adjusted p), and its interval on the log shift (None where the case cannot be tested)."""

    case: _WallCase
    outcome: str
    level: float
    selected: bool
    p_adjusted: float | None
    interval: tuple[float, float] | None


def decide_wall(
    reference: Mapping[str, CaseSamples],
    candidate: Mapping[str, CaseSamples],
    threshold: float = DEFAULT_WALL_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    noise: NoiseFloor | None = None,
    interleaved: bool = False,
    units: bool = True,
) -> list[WallDecision]:
    """The wall-time rule's outcome for each case both sides have (``judge_wall`` states them).

    Multiplicity is handled where decidability is: only cases whose processes can reach
    ``alpha`` at all are tested; Benjamini–Hochberg across them selects the changed ones, and a
    selected case's interval is stated at 1 - R·alpha/m (R selected of m tested), which controls
    the false coverage among the intervals shown (Benjamini & Yekutieli, 2005). Unless the sides
    were ``interleaved``, every interval carries the between-session term bounded from the A/A
    sessions of ``noise`` (``linreg.compare.session_term``), and a case without one is undecided.
    Sides a power of 1000 apart in every case are refused (``linreg.compare.wall_units``)
    unless ``units`` is False (the two sides of a step in one series, which share their units).
    """
    check_alpha(alpha)
    if units:
        check_units(reference, candidate)
    bound = math.log1p(threshold)
    cases = []
    for name in sorted(set(reference) & set(candidate)):
        ref = [v for v in reference[name].wall if v > 0]
        cand = [v for v in candidate[name].wall if v > 0]
        if ref and cand:
            term = session_term(noise, name, interleaved)
            cases.append(_wall_case(name, ref, cand, bound, alpha, term))
    tested = [c for c in cases if c.testable]
    adjusted = _benjamini_hochberg([c.p for c in tested])
    p_adjusted = {c.case: a for c, a in zip(tested, adjusted, strict=True)}
    selected = {name for name, a in p_adjusted.items() if a <= alpha}
    selected_level = 1 - alpha * max(len(selected), 1) / max(len(tested), 1)
    decisions = []
    for case in cases:
        chosen = case.case in selected
        level = selected_level if chosen else 1 - alpha
        decisions.append(_decide(case, bound, level, chosen, p_adjusted.get(case.case)))
    return decisions


def _decide(
    case: _WallCase, bound: float, level: float, selected: bool, p_adjusted: float | None
) -> WallDecision:
    if not case.testable:
        return WallDecision(case, UNDECIDED, level, selected, p_adjusted, None)
    low, high = case.shift.interval(level)
    if selected and case.p_slower < case.p_faster and low > bound:
        outcome = SLOWER
    elif selected and case.p_faster <= case.p_slower and high < -bound:
        outcome = FASTER
    elif -bound < low and high < bound:
        outcome = NO_CHANGE
    else:
        outcome = UNDECIDED
    return WallDecision(case, outcome, level, selected, p_adjusted, (low, high))


def judge_wall(
    reference: Mapping[str, CaseSamples],
    candidate: Mapping[str, CaseSamples],
    threshold: float = DEFAULT_WALL_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    noise: NoiseFloor | None = None,
    interleaved: bool = False,
    units: bool = True,
) -> list[CaseVerdict]:
    """Wall-time verdicts for the cases both sides have: ``decide_wall``'s outcomes, each with
    the figures that earned it and, where undecided, why and the processes a side that would
    decide it."""
    decisions = decide_wall(reference, candidate, threshold, alpha, noise, interleaved, units)
    tested = sum(d.case.testable for d in decisions)
    return [_wall_verdict(d, threshold, alpha, noise, tested) for d in decisions]


def _benjamini_hochberg(ps: list[float]) -> list[float]:
    if len(ps) < 2:
        return list(ps)
    from scipy.stats import false_discovery_control  # here: the CLI starts without scipy

    return [float(v) for v in false_discovery_control(ps, method="bh")]


def _wall_verdict(
    decision: WallDecision, threshold: float, alpha: float, noise: NoiseFloor | None, tested: int
) -> CaseVerdict:
    bound = math.log1p(threshold)
    case = decision.case
    shift = case.shift
    ref, cand = case.reference, case.candidate
    common = {
        "case": case.case,
        "metric": WALL,
        "reference": statistics.median(ref),
        "candidate": statistics.median(cand),
        "samples": (len(ref), len(cand)),
        "ratio": math.exp(shift.estimate) if math.isfinite(shift.estimate) else math.nan,
        "threshold": threshold,
        "noise_floor": case.term.estimate,
        "unstable": max(spread(ref), spread(cand)) > UNSTABLE_SPREAD,
    }
    if decision.interval is None:
        n, m = common["samples"]
        reason = (
            "tied values: no resolution to judge by"
            if not math.isfinite(shift.resolution)
            else f"{n} vs {m} processes cannot reach {percent(1 - alpha)} confidence"
            if smallest_p(n, m) > alpha
            else f"{n} vs {m} processes"
        )
        if not case.term.known:
            reason = f"{reason}; {unknown_reason()}"
        needed = _processes_needed(case, bound, alpha, noise)
        return CaseVerdict(**common, outcome=UNDECIDED, processes_needed=needed,
                           reason=_with_advice(reason, needed))  # fmt: skip
    low, high = decision.interval
    ci = (math.exp(low), math.exp(high))
    evidence = {"ci": ci, "confidence": decision.level, "p": case.p,
                "p_adjusted": decision.p_adjusted, **common}  # fmt: skip
    if decision.outcome != UNDECIDED:
        return CaseVerdict(**evidence, outcome=decision.outcome)
    n, m = common["samples"]
    needed = _processes_needed(case, bound, alpha, noise)
    if low > bound or high < -bound:
        # Clear of the threshold on its own, but not among the cases tested with it.
        reason = (
            f"{n} vs {m} processes: beyond ±{percent(threshold)} alone, not once adjusted for "
            f"the {tested} cases tested"
        )
    else:
        reason = (
            f"{n} vs {m} processes: the interval {_ratio_range(ci)} spans ±{percent(threshold)}"
        )
        if case.term.kind == BOUNDED and shift.margin_alone(alpha) >= bound:
            reason = f"{reason}; {too_wide_reason(case.term)}"
    return CaseVerdict(**evidence, outcome=UNDECIDED, processes_needed=needed,
                       reason=_with_advice(reason, needed))  # fmt: skip


def _ratio_range(ci: tuple[float, float]) -> str:
    return f"{_sig(ci[0])}–{_sig(ci[1])}"


def _sig(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.3g}"


def _with_advice(reason: str, needed: int | None) -> str:
    if needed is None:
        return reason
    return f"{reason}; about {needed} a side would decide at this spread"


def _processes_needed(
    case: _WallCase, bound: float, alpha: float, noise: NoiseFloor | None
) -> int | None:
    """From the simulated power table: processes a side that decide a change of this size at
    this spread (the sides' own, else the machine's measured one)."""
    sd = log_sd(case.reference, case.candidate)
    if sd is None and noise is not None:
        sd = noise.process_sd.get(case.case)
    table = power_table()
    finite = math.isfinite(case.shift.estimate) and math.isfinite(case.shift.resolution)
    if sd is None or table is None or not finite or not case.term.known:
        return None
    # The between-session term does not shrink with processes: where it alone spans the
    # threshold no number of processes decides.
    if case.term.kind == BOUNDED and case.shift.margin_alone(alpha) >= bound:
        return None
    return table.needed(case.shift.estimate, sd, math.expm1(bound))


def judge_instructions(
    reference: Mapping[str, CaseSamples],
    candidate: Mapping[str, CaseSamples],
    threshold: float = DEFAULT_INSTRUCTION_THRESHOLD,
    noise: NoiseFloor | None = None,
) -> list[CaseVerdict]:
    """Instruction-count verdicts: a change beyond the threshold and twice the noise floor is
    slower or faster; within the threshold, no change; beyond the threshold but inside twice
    the floor, undecided."""
    verdicts = []
    for case in sorted(set(reference) & set(candidate)):
        ref, cand = reference[case].instructions, candidate[case].instructions
        if not ref or not cand:
            continue
        ref_median, cand_median = statistics.median(ref), statistics.median(cand)
        ratio = cand_median / ref_median if ref_median > 0 else math.inf
        floor = _instruction_floor(case, noise, ref)
        bound = max(threshold, 2 * (floor or 0.0))
        outcome = _direction(ratio, bound) or NO_CHANGE
        reason = ""
        if outcome == NO_CHANGE and _direction(ratio, threshold) is not None:
            outcome = UNDECIDED
            reason = f"within twice the noise floor ({percent(floor or 0.0)})"
        verdicts.append(
            CaseVerdict(case, INSTRUCTIONS, outcome, ref_median, cand_median,
                        (len(ref), len(cand)), ratio, threshold, noise_floor=floor,
                        reason=reason)
        )  # fmt: skip
    return verdicts


def case_ops(reference: CaseSamples | None, candidate: CaseSamples | None) -> OpEvidence | None:
    """What the op counts of a case say, where both sides counted them (each side's first
    count: the same code on the same stack counts the same ops in every process)."""
    if reference is None or candidate is None or not reference.ops or not candidate.ops:
        return None
    return op_evidence(reference.ops[0], candidate.ops[0])


def judge_ops(
    reference: Mapping[str, CaseSamples], candidate: Mapping[str, CaseSamples]
) -> list[CaseVerdict]:
    """Op-count verdicts for the cases both sides counted ops of on the same device, torch
    and engine (elsewhere the ops a step makes differ for those alone): one process a side
    decides. A step that makes an op more often and none less often is ``slower``; fewer and
    none more, ``faster``; the same ops as often, ``no change`` (ops that only moved to other
    lines are no change); some more and some fewer is ``undecided``, as op counts cannot say
    which costs more."""
    verdicts = []
    for case in sorted(set(reference) & set(candidate)):
        evidence = case_ops(reference[case], candidate[case])
        if evidence is None or evidence.stack_differences:
            continue
        outcome, reason = NO_CHANGE, ""
        if evidence.added and evidence.removed:
            outcome = UNDECIDED
            reason = (
                "ops replaced: a step makes some ops more often and others less often, "
                "and op counts cannot say which costs more"
            )
        elif evidence.added:
            outcome = SLOWER
        elif evidence.removed:
            outcome = FASTER
        ref_ops, cand_ops = evidence.reference_per_step, evidence.candidate_per_step
        verdicts.append(
            CaseVerdict(case, OPS, outcome, ref_ops, cand_ops,
                        (len(reference[case].ops), len(candidate[case].ops)),
                        cand_ops / ref_ops if ref_ops > 0 else math.inf, 0.0, reason=reason,
                        ops=evidence)
        )  # fmt: skip
    return verdicts


def with_ops(
    cases: Sequence[CaseVerdict],
    reference: Mapping[str, CaseSamples],
    candidate: Mapping[str, CaseSamples],
) -> list[CaseVerdict]:
    """The cases with their op evidence on the metric that decides each: its instruction
    count, else its op count (which carries it already), else its wall time."""
    metrics: dict[str, set[str]] = {}
    for case in cases:
        metrics.setdefault(case.case, set()).add(case.metric)
    found = []
    for case in cases:
        held = metrics[case.case]
        holder = INSTRUCTIONS if INSTRUCTIONS in held else OPS if OPS in held else WALL
        if case.metric != holder or case.ops is not None:
            found.append(case)
            continue
        evidence = case_ops(reference.get(case.case), candidate.get(case.case))
        found.append(case if evidence is None else dataclasses.replace(case, ops=evidence))
    return found


def ops_notes(cases: Sequence[CaseVerdict]) -> list[str]:
    """Which cases the op counts decided, which they explain, and where they are information."""
    notes = []
    decided = sorted({c.case for c in cases if c.metric == OPS})
    if decided:
        notes.append(
            f"op counts decide {len(decided)} case{'s' if len(decided) != 1 else ''} without "
            "instruction counts: any op a step makes more or less often is a change, from one "
            "process a side"
        )
    explained = sorted({c.case for c in cases if c.metric == INSTRUCTIONS and c.ops is not None})
    if explained:
        notes.append(
            f"op counts explain {len(explained)} instruction case"
            f"{'s' if len(explained) != 1 else ''}: which ops a step makes, from which lines"
        )
    apart = sorted({field for c in cases if c.ops is not None for field in
                    c.ops.stack_differences})  # fmt: skip
    if apart:
        notes.append(
            f"op counts made with another {', '.join(apart)} on each side: the ops a step "
            "makes differ for that alone, information rather than a verdict"
        )
    return notes


def _direction(ratio: float, bound: float) -> str | None:
    if ratio > 1 + bound:
        return SLOWER
    if ratio < 1 / (1 + bound):
        return FASTER
    return None


def _instruction_floor(
    case: str, noise: NoiseFloor | None, reference: Sequence[float]
) -> float | None:
    """The machine's measured A/A spread of the case's count, else the reference's own spread
    across its processes (three or more), else unknown."""
    if noise is not None and case in noise.instructions:
        return noise.instructions[case]
    return spread(reference) if len(reference) >= 3 else None


def _identity(session: BenchSession) -> tuple[Any, ...]:
    """What makes two sessions' times comparable: the machine and what its CPU runs."""
    env = session.files[0].environment
    return (session.machine, env.get("cpu"), env.get("cpu_count"), env.get("torch_cpu_capability"))


def interleaved(reference: BenchSession, candidate: BenchSession) -> bool:
    """Did the two sessions' processes alternate in time (an A/B, A B A B …)? Then the machine's
    drift between sessions landed on both alike. Overlapping spans are not enough
    (``linreg.compare.session_term.alternate``)."""
    return alternate([f.datetime for f in reference.files], [f.datetime for f in candidate.files])


def judge_sessions(
    reference: BenchSession,
    candidate: BenchSession,
    threshold: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    instruction_threshold: float = DEFAULT_INSTRUCTION_THRESHOLD,
    noise: NoiseFloor | None = None,
) -> SpeedVerdict:
    """Every case both sessions hold, by wall time and (where counted) by instructions.

    ``threshold`` None reports at DEFAULT_WALL_THRESHOLD without gating; a threshold gates only
    when both sessions come from the same machine.
    """
    check_alpha(alpha)
    same_machine = _identity(reference) == _identity(candidate)
    together = interleaved(reference, candidate)
    ref, cand = session_samples(reference), session_samples(candidate)
    wall_threshold = DEFAULT_WALL_THRESHOLD if threshold is None else threshold
    counted = judge_instructions(ref, cand, instruction_threshold, noise)
    by_count = {c.case for c in counted}
    # Op counts decide where no instruction count does; elsewhere they explain.
    ops = [c for c in judge_ops(ref, cand) if c.case not in by_count]
    cases = with_ops(judge_wall(ref, cand, wall_threshold, alpha, noise, together) + counted
                     + ops, ref, cand)  # fmt: skip
    notes = [f"reference: {reference.label}", f"candidate: {candidate.label}"]
    notes.append(
        f"intervals at {percent(1 - alpha)} confidence; a slower or faster case's widened for "
        "the cases tested with it"
    )
    if not same_machine:
        notes.append(
            f"different machines ({reference.machine} vs {candidate.machine}, or another CPU "
            "model or capability): wall time and instruction counts are information here"
        )
    notes += _instruction_notes(reference, candidate, cases)
    notes += ops_notes(cases)
    notes.append(_session_note(reference.machine, noise, together))
    return SpeedVerdict(
        reference=reference.label,
        candidate=candidate.label,
        same_machine=same_machine,
        gating=threshold is not None and same_machine,
        verdict=comparison_verdict(same_machine, cases),
        cases=tuple(sorted(cases, key=_order)),
        notes=tuple(notes),
        confidence=1 - alpha,
        interleaved=together,
        reference_series=reference.name,
        candidate_series=candidate.name,
    )


def comparison_verdict(same_machine: bool, cases: Sequence[CaseVerdict]) -> str:
    """Across machines, information; a slower case, regressed; "no regression" only when every
    case is cleared (``SpeedVerdict.cleared``); else undecided."""
    if not same_machine:
        return INFORMATION
    if any(c.outcome == SLOWER for c in cases):
        return REGRESSED
    done, open_ = cleared(cases)
    return NO_REGRESSION if done and not open_ else UNDECIDED_VERDICT


def _instruction_notes(
    reference: BenchSession, candidate: BenchSession, cases: list[CaseVerdict]
) -> list[str]:
    if any(c.metric == INSTRUCTIONS for c in cases):
        return []
    ref, cand = reference.instruction_status, candidate.instruction_status
    rest = "op counts and wall time" if any(c.metric == OPS for c in cases) else "wall time alone"
    if ref == cand:
        return [f"no instruction counts on either side ({ref}): {rest}"]
    return [f"instruction counts on one side only (reference: {ref}; candidate: {cand}): {rest}"]


def _session_note(machine: str, noise: NoiseFloor | None, together: bool) -> str:
    if together:
        return "the sides ran interleaved: no between-session term"
    if noise is not None and noise.between_sessions:
        return (
            f"between-session spread of {machine} measured over {noise.sessions} sessions, "
            "its bound from them added to every interval"
        )
    return (
        f"the sides ran apart and no between-session spread is measured for {machine}: wall "
        "time is undecided (linreg bench --processes 8 in several sessions measures it, or "
        "linreg ab runs the sides interleaved)"
    )


def _order(case: CaseVerdict) -> tuple[int, str, str]:
    rank = {SLOWER: 0, UNDECIDED: 1, FASTER: 2, NO_CHANGE: 3}[case.outcome]
    return rank, case.case, case.metric
