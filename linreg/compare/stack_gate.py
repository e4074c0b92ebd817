"""The gate of `linreg run`: instruction counts against the committed baseline of the same stack.

Instruction counts depend on the stack (torch build, Python, OS, CPU dispatch capability), not
on the host (``linreg.stack``), and repeat to a fraction of a percent: one process per side
decides, by ``judge_instructions``'s rule (beyond 3 % and twice the noise floor). So a baseline
made on one machine of a stack gates on every machine of it, a fresh CI runner included.

Where this run counted no instructions of a case (a CUDA case, a host without Valgrind) but
it and the baseline counted the case's ops, the op counts decide it (``judge_ops``: any op a
step makes more or less often is a change; one process a side), and the notes say so; beside
an instruction case they explain it.

Wall time against the same machine's baseline is judged by ``judge_sessions`` and its rules; it
joins the gate's cases only where those rules let it gate (``wall_gates``), and is otherwise
one line of information in the notes: a wall-time case undecided on one process would crowd
out the instruction cases that did decide.
"""

from __future__ import annotations

from linreg.compare.explain_cases import explained
from linreg.compare.speed import (
    DEFAULT_INSTRUCTION_THRESHOLD,
    judge_instructions,
    judge_ops,
    ops_notes,
    with_ops,
)
from linreg.results.bench_sessions import BenchSession, session_samples
from linreg.results.speed_verdict import (
    FASTER,
    NO_BASELINE,
    NO_CHANGE,
    NO_REGRESSION,
    REGRESSED,
    UNDECIDED_VERDICT,
    WALL,
    CaseVerdict,
    GateFacts,
    SpeedVerdict,
)


def gate_verdict(has_baseline: bool, cases: tuple[CaseVerdict, ...]) -> str:
    """No baseline, regressed where a case is slower, "no regression" only where every counted
    case (instructions, or ops where it has none) earned no change or faster (a count inside
    twice the noise floor is undecided, and so is the run)."""
    if not has_baseline:
        return NO_BASELINE
    if any(c.is_regression for c in cases):
        return REGRESSED
    counted = [c for c in cases if c.metric != WALL]
    if not counted or any(c.outcome not in (NO_CHANGE, FASTER) for c in counted):
        return UNDECIDED_VERDICT
    return NO_REGRESSION


def _slower_first(case: CaseVerdict) -> tuple[bool, str, str]:
    return (not case.is_regression, case.case, case.metric)


def judge_stack(
    reference: BenchSession | None,
    candidate: BenchSession,
    key: str,
    where: str,
    threshold: float = DEFAULT_INSTRUCTION_THRESHOLD,
    wall: SpeedVerdict | None = None,
    wall_gates: bool = False,
    wall_missing: str = "",
) -> SpeedVerdict:
    """``candidate``'s instruction counts against ``reference``, the newest baseline of stack
    ``key`` (None: there is none, kept at ``where``), and its op counts where it counted no
    instructions of a case; ``wall`` is the same-machine wall-time verdict, whose slower cases
    gate only with ``wall_gates``. Every case of the result gates."""
    notes = (f"candidate: {candidate.label}",)
    wall_cases = tuple(c for c in wall.cases if c.metric == WALL) if wall and wall_gates else ()
    facts = GateFacts(key, threshold, True, wall=wall, wall_gates=wall_gates and wall is not None,
                      wall_missing="" if wall is not None else wall_missing)  # fmt: skip
    if reference is None:
        facts = GateFacts(key, threshold, False, wall=facts.wall, wall_gates=facts.wall_gates,
                          wall_missing=facts.wall_missing)  # fmt: skip
        return SpeedVerdict(
            reference=where, candidate=candidate.label, same_machine=False,
            gating=bool(wall_cases), verdict=gate_verdict(False, wall_cases), cases=wall_cases,
            notes=notes, confidence=None, reference_series=f"baseline of stack {key}",
            candidate_series="this run", gate=facts,
        )  # fmt: skip
    ref, cand = session_samples(reference), session_samples(candidate)
    # A case that moved carries the functions that moved it (the baseline's profiles).
    counted = judge_instructions(ref, cand, threshold)
    by_count = {c.case for c in counted}
    by_ops = [c for c in judge_ops(ref, cand) if c.case not in by_count]
    judged = explained(with_ops(counted, ref, cand), reference, candidate) + by_ops
    counted_there = {name for name, s in ref.items() if s.instructions or s.ops}
    counted_here = {name for name, s in cand.items() if s.instructions or s.ops}
    left = tuple(sorted(counted_there - counted_here)) if counted_here else ()
    why = ""
    status = candidate.instruction_status
    if not counted_here:
        why = f"this run counted no instructions ({status}) and no ops"
    elif not judged:
        why = "no case counted on both sides"
        if not any(s.instructions for s in cand.values()):
            # Its op counts alone matched nothing: why it has no instruction counts is the news.
            why += f"; this run counted no instructions ({status})"
    notes += tuple(ops_notes(judged))
    cases = tuple(sorted((*judged, *wall_cases), key=_slower_first))
    return SpeedVerdict(
        reference=f"{reference.label}, stack {key}",
        candidate=candidate.label,
        same_machine=reference.machine == candidate.machine,
        gating=True,
        verdict=gate_verdict(True, cases),
        cases=cases,
        notes=notes,
        confidence=None,
        reference_series=f"baseline of stack {key}",
        candidate_series="this run",
        gate=GateFacts(
            key, threshold, True, why, left, facts.wall, facts.wall_gates, facts.wall_missing
        ),
    )
