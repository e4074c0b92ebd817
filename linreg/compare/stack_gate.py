"""The gate of `linreg run`: instruction counts against the committed baseline of the same stack.

Instruction counts depend on the stack (torch build, Python, OS, CPU dispatch capability), not
on the host (``linreg.stack``), and repeat to a fraction of a percent: one process per side
decides, by ``judge_instructions``'s rule (beyond 3 % and twice the noise floor). So a baseline
made on one machine of a stack gates on every machine of it, a fresh CI runner included.

Wall time against the same machine's baseline is judged by ``judge_sessions`` and its rules; it
joins the gate's cases only where those rules let it gate (``wall_gates``), and is otherwise
one line of information in the notes: a wall-time case undecided on one process would crowd
out the instruction cases that did decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linreg.compare.explain_cases import explained
from linreg.compare.speed import (
    DEFAULT_INSTRUCTION_THRESHOLD,
    FASTER,
    NO_BASELINE,
    NO_CHANGE,
    NO_REGRESSION,
    REGRESSED,
    UNDECIDED,
    WALL,
    CaseVerdict,
    SpeedVerdict,
    judge_instructions,
)
from linreg.results.bench_sessions import BenchSession, session_samples

HOW_TO_MAKE = "linreg bench --quick --baseline on a machine of this stack, then commit it"


@dataclass(frozen=True)
class StackGate:
    """The gate's verdict for one run, with every judged case's evidence; every case here gates."""

    stack_key: str
    reference: str  # the baseline session, or the folder where one would be
    candidate: str
    cases: tuple[CaseVerdict, ...] = ()
    notes: tuple[str, ...] = ()
    threshold: float = DEFAULT_INSTRUCTION_THRESHOLD
    has_baseline: bool = True
    same_machine: bool = False  # the baseline may come from any machine of the stack
    not_counted: str = ""  # why this run holds no counts of the baseline's cases, where it does not

    @property
    def regressions(self) -> list[CaseVerdict]:
        return [c for c in self.cases if c.is_regression]

    @property
    def decided(self) -> bool:
        """Whether the gate judged at all (a baseline, and counts of its cases here)."""
        return self.verdict in (REGRESSED, NO_REGRESSION)

    @property
    def verdict(self) -> str:
        if not self.has_baseline:
            return NO_BASELINE
        if self.regressions:
            return REGRESSED
        counted = [c for c in self.cases if c.metric != WALL]
        # Earned: every counted case no change or faster (a count inside twice the noise
        # floor is undecided, and so is the run).
        if not counted or any(c.outcome not in (NO_CHANGE, FASTER) for c in counted):
            return UNDECIDED
        return NO_REGRESSION

    @property
    def summary(self) -> str:
        counted = [c for c in self.cases if c.metric != WALL]
        if not self.has_baseline:
            return f"no instruction baseline for stack {self.stack_key} (make one: {HOW_TO_MAKE})"
        if self.regressions:
            worst = max(self.regressions, key=lambda c: c.ratio)
            return (
                f"{len(self.regressions)} of {len(self.cases)} cases slower; worst {worst.case} "
                f"({worst.metric}) ×{worst.ratio:.4g}, stack {self.stack_key}"
            )
        if not counted:
            return f"not judged: {self.not_counted or 'no case counted on both sides'}"
        if self.verdict == UNDECIDED:
            open_ = [c for c in counted if c.outcome not in (NO_CHANGE, FASTER)]
            return (
                f"{len(open_)} of {len(counted)} cases neither slower nor within "
                f"{self.threshold:.0%} by instructions (stack {self.stack_key})"
            )
        return (
            f"no regression in {len(counted)} cases: instructions within {self.threshold:.0%} "
            f"(stack {self.stack_key})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The speed-verdict record (``linreg.results.load.load_speed_verdict``), plus the key."""
        return {
            "reference": self.reference,
            "candidate": self.candidate,
            "reference_series": f"baseline of stack {self.stack_key}",
            "candidate_series": "this run",
            "interleaved": False,
            "confidence": None,
            "same_machine": self.same_machine,
            "gating": self.has_baseline,
            "stack_key": self.stack_key,
            "verdict": self.verdict,
            "summary": self.summary,
            "notes": list(self.notes),
            "cases": [c.to_dict() for c in sorted(self.cases, key=_slower_first)],
        }


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
    wall_note: str = "",
) -> StackGate:
    """``candidate``'s instruction counts against ``reference``, the newest baseline of stack
    ``key`` (None: there is none, kept at ``where``); ``wall`` is the same-machine wall-time
    verdict, whose slower cases gate only with ``wall_gates``."""
    notes = [f"candidate: {candidate.label}"]
    wall_cases: list[CaseVerdict] = []
    if wall is not None:
        gate_word = "gates" if wall_gates else "information, not a gate"
        notes.append(f"wall time against this machine's baseline ({gate_word}): {wall.summary}")
        if wall_gates:
            wall_cases = [c for c in wall.cases if c.metric == WALL]
    elif wall_note:
        notes.append(f"wall time: {wall_note}")
    if reference is None:
        return StackGate(key, where, candidate.label, tuple(wall_cases), tuple(notes), threshold,
                         has_baseline=False)  # fmt: skip
    ref, cand = session_samples(reference), session_samples(candidate)
    # A case that moved carries the functions that moved it (the baseline's profiles).
    judged = explained(judge_instructions(ref, cand, threshold), reference, candidate)
    counted_there = {name for name, s in ref.items() if s.instructions}
    counted_here = {name for name, s in cand.items() if s.instructions}
    left = sorted(counted_there - counted_here)
    if left and counted_here:
        notes.append(f"baseline cases not counted in this run: {', '.join(left)}")
    why = ""
    if not counted_here:
        status = candidate.files[0].machine_info.get("linreg_instructions")
        why = f"this run counted no instructions ({status or 'not asked'})"
    elif not judged:
        why = "no case counted on both sides"
    return StackGate(
        stack_key=key,
        reference=f"{reference.label}, stack {key}",
        candidate=candidate.label,
        cases=(*judged, *wall_cases),
        notes=tuple(notes),
        threshold=threshold,
        same_machine=reference.machine == candidate.machine,
        not_counted=why,
    )
