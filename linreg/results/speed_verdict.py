"""The speed-verdict record: a timing comparison's outcome per case and metric, with its evidence.

``linreg.compare.speed`` and ``linreg.compare.stack_gate`` build it by their rules; this module
owns its shape on disk (``to_dict``/``from_dict``, and ``upgrade`` for the older schemas); the
report and the CLI read its attributes and say it in words (``linreg.report.speed_words``).
Torch-free: reading a verdict imports no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from linreg.json_types import JsonObject
from linreg.results.op_changes import OpEvidence

WALL, INSTRUCTIONS, OPS = "wall", "instructions", "ops"
METRICS = (WALL, INSTRUCTIONS, OPS)
SLOWER, FASTER, NO_CHANGE, UNDECIDED = "slower", "faster", "no change", "undecided"
OUTCOMES = (SLOWER, FASTER, NO_CHANGE, UNDECIDED)
REGRESSED, NO_REGRESSION, UNDECIDED_VERDICT, NO_BASELINE, INFORMATION = (
    "regressed", "no regression", "undecided", "no baseline", "information",
)  # fmt: skip
VERDICTS = (REGRESSED, NO_REGRESSION, UNDECIDED_VERDICT, NO_BASELINE, INFORMATION)
INCLUSIVE, EXCLUSIVE = "inclusive", "exclusive"
DEFAULT_CONFIDENCE = 0.99


@dataclass(frozen=True)
class FunctionDelta:
    """``function``'s instructions per call on each side, counted inclusively (with the
    functions it called: which call grew) or exclusively (its own: where they were spent)."""

    function: str  # standardised: comparable across stacks (no build paths, objects, addresses)
    kind: str  # INCLUSIVE or EXCLUSIVE
    reference: float  # instructions per call
    candidate: float
    share: float | None  # of the case's change per call; None where the case did not change

    @property
    def delta(self) -> float:
        return self.candidate - self.reference

    def to_dict(self) -> JsonObject:
        return {
            "function": self.function,
            "kind": self.kind,
            "reference": self.reference,
            "candidate": self.candidate,
            "delta": self.delta,
            "share": self.share,
        }

    @classmethod
    def from_dict(cls, data: Any) -> FunctionDelta:
        if not isinstance(data, dict) or not isinstance(data.get("function"), str):
            raise ValueError("a case's function entry must be an object with a function name")
        if data.get("kind") not in (INCLUSIVE, EXCLUSIVE):
            raise ValueError("a function entry's kind must be inclusive or exclusive")
        return cls(
            function=data["function"],
            kind=data["kind"],
            reference=_number(data, "reference", "a function entry's"),
            candidate=_number(data, "candidate", "a function entry's"),
            share=_number(data, "share", "a function entry's", optional=True),
        )


@dataclass(frozen=True)
class CaseVerdict:
    """One case, one metric: the outcome and the figures that earned it.

    OPS (the aten ops a step makes, ``linreg.engines.op_counts``) decides a case only where it
    has no instruction counts; ``reference``/``candidate`` are then all ops a step, ``ratio``
    their quotient, ``threshold`` 0 (any op added or removed is a change)."""

    case: str
    metric: str  # WALL, INSTRUCTIONS or OPS
    outcome: str  # SLOWER, FASTER, NO_CHANGE or UNDECIDED
    reference: float  # median over the reference's processes (seconds or instructions)
    candidate: float
    samples: tuple[int, int]  # processes: reference, candidate
    ratio: float  # candidate / reference (wall: the Hodges–Lehmann shift)
    threshold: float
    ci: tuple[float, float] | None = None  # of the ratio, at ``confidence``
    confidence: float | None = None
    p: float | None = None  # two-sided p of a change beyond the threshold (wall time)
    p_adjusted: float | None = None  # Benjamini–Hochberg across the comparison's wall cases
    noise_floor: float | None = None  # instructions: the A/A spread; wall: between-session sd
    unstable: bool = False  # processes more than half apart on a side
    processes_needed: int | None = None  # a side, where undecided; None: unknown or too many
    reason: str = ""  # why undecided
    # Instructions: the functions whose counts moved beyond noise (linreg.compare.explain),
    # where the case is slower or faster; the note says the noise rule, or why there is no list.
    functions: tuple[FunctionDelta, ...] = ()
    functions_note: str = ""
    # Any metric: what the op counts of the two sides say (the OPS metric's evidence; beside
    # an instruction or wall case, its explanation); None where a side counted no ops.
    ops: OpEvidence | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS or self.outcome not in OUTCOMES:
            raise ValueError(f"a case's metric and outcome, not {self.metric!r}, {self.outcome!r}")

    @property
    def is_regression(self) -> bool:
        return self.outcome == SLOWER

    def to_dict(self) -> JsonObject:
        where = (
            {"functions": [f.to_dict() for f in self.functions],
             "functions_note": self.functions_note}
            if self.metric == INSTRUCTIONS else {}
        )  # fmt: skip
        if self.ops is not None:
            where["ops"] = self.ops.to_dict()
        return {
            "case": self.case,
            "metric": self.metric,
            "outcome": self.outcome,
            "reference": self.reference,
            "candidate": self.candidate,
            "samples": list(self.samples),
            "ratio": self.ratio,
            "ci": None if self.ci is None else list(self.ci),
            "confidence": self.confidence,
            "p": self.p,
            "p_adjusted": self.p_adjusted,
            "noise_floor": self.noise_floor,
            "threshold": self.threshold,
            "unstable": self.unstable,
            "processes_needed": self.processes_needed,
            "reason": self.reason,
            **where,
        }

    @classmethod
    def from_dict(cls, data: Any) -> CaseVerdict:
        if not isinstance(data, dict):
            raise ValueError("a case must be an object")
        if not isinstance(data["case"], str):
            raise ValueError("a case's case must be a string")
        if data["metric"] not in METRICS:
            raise ValueError(f"a case's metric must be one of {', '.join(METRICS)}")
        if data["outcome"] not in OUTCOMES:
            raise ValueError(f"a case's outcome must be one of {', '.join(OUTCOMES)}")
        functions = data.get("functions", [])
        if not isinstance(functions, list):
            raise ValueError("a case's functions must be a list")
        needed = data.get("processes_needed")
        if needed is not None and (not isinstance(needed, int) or isinstance(needed, bool)):
            raise ValueError("a case's processes_needed must be an integer")
        # An undecided case may lack the figures a decision needs; present ones must be numbers.
        return cls(
            case=data["case"],
            metric=data["metric"],
            outcome=data["outcome"],
            reference=_number(data, "reference", "a case's", optional=True, default=math.nan),
            candidate=_number(data, "candidate", "a case's", optional=True, default=math.nan),
            samples=_pair(data, "samples", int_values=True) or (0, 0),
            ratio=_number(data, "ratio", "a case's", optional=True, default=math.nan),
            threshold=_number(data, "threshold", "a case's", optional=True, default=math.nan),
            ci=_pair(data, "ci"),
            confidence=_number(data, "confidence", "a case's", optional=True),
            p=_number(data, "p", "a case's", optional=True),
            p_adjusted=_number(data, "p_adjusted", "a case's", optional=True),
            noise_floor=_number(data, "noise_floor", "a case's", optional=True),
            unstable=bool(data.get("unstable", False)),
            processes_needed=needed,
            reason=str(data.get("reason") or ""),
            functions=tuple(FunctionDelta.from_dict(f) for f in functions),
            functions_note=str(data.get("functions_note") or ""),
            ops=None if data.get("ops") is None else OpEvidence.from_dict(data["ops"]),
        )


@dataclass(frozen=True)
class GateFacts:
    """What `linreg run`'s gate adds to a speed verdict: the stack whose committed baseline the
    run's instruction counts were judged against, and the wall-time comparison beside it."""

    stack_key: str
    threshold: float  # the instruction threshold
    has_baseline: bool = True
    not_counted: str = ""  # why this run holds no counts of the baseline's cases, where it does not
    uncounted: tuple[str, ...] = ()  # baseline cases this run did not count
    # Wall time against this machine's own newest baseline: its verdict (gating only where
    # ``wall_gates``), or why there is none.
    wall: SpeedVerdict | None = None
    wall_gates: bool = False
    wall_missing: str = ""

    def to_dict(self) -> JsonObject:
        return {
            "stack_key": self.stack_key,
            "threshold": self.threshold,
            "has_baseline": self.has_baseline,
            "not_counted": self.not_counted,
            "uncounted": list(self.uncounted),
            "wall": None if self.wall is None else self.wall.to_dict(),
            "wall_gates": self.wall_gates,
            "wall_missing": self.wall_missing,
        }

    @classmethod
    def from_dict(cls, data: Any) -> GateFacts:
        if not isinstance(data, dict) or not isinstance(data["stack_key"], str):
            raise ValueError("gate must be an object with a stack_key")
        wall = data.get("wall")
        return cls(
            stack_key=data["stack_key"],
            threshold=_number(data, "threshold", "the gate's"),
            has_baseline=_bool(data, "has_baseline", True),
            not_counted=str(data.get("not_counted") or ""),
            uncounted=tuple(_strings(data, "uncounted")),
            wall=None if wall is None else SpeedVerdict.from_dict(wall),
            wall_gates=_bool(data, "wall_gates", False),
            wall_missing=str(data.get("wall_missing") or ""),
        )


@dataclass(frozen=True)
class SpeedVerdict:
    """The comparison's verdict and every case's evidence, as the terminal, the report's verdict
    panel and the exit code all read it."""

    reference: str  # the sessions compared, as a comparison names them
    candidate: str
    same_machine: bool
    gating: bool  # does a slower case fail the comparison (exit 1)?
    verdict: str  # one of VERDICTS, decided by the rule that built it
    cases: tuple[CaseVerdict, ...] = ()
    notes: tuple[str, ...] = ()  # what the judge observed of the two sides
    confidence: float | None = DEFAULT_CONFIDENCE
    interleaved: bool = False
    reference_series: str = ""  # what names the side in a report (its torch, its session)
    candidate_series: str = ""
    gate: GateFacts | None = None  # `linreg run`'s gate by stack; None for a comparison

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {self.verdict!r}")
        if not isinstance(self.cases, tuple):
            raise TypeError("cases must be a tuple of CaseVerdict")

    @property
    def slower(self) -> list[CaseVerdict]:
        return [c for c in self.cases if c.outcome == SLOWER]

    @property
    def regressions(self) -> list[CaseVerdict]:
        """The slower cases that fail the comparison: all of them where it gates."""
        return self.slower if self.gating else []

    @property
    def decided(self) -> bool:
        """Whether it judged at all (a gate with a baseline, and counts of its cases here)."""
        return self.verdict in (REGRESSED, NO_REGRESSION)

    @property
    def case_names(self) -> list[str]:
        return sorted({c.case for c in self.cases})

    def cleared(self) -> tuple[list[str], list[str]]:
        return cleared(self.cases)

    def to_dict(self) -> JsonObject:
        return {
            "reference": self.reference,
            "candidate": self.candidate,
            "reference_series": self.reference_series,
            "candidate_series": self.candidate_series,
            "same_machine": self.same_machine,
            "gating": self.gating,
            "interleaved": self.interleaved,
            "confidence": self.confidence,
            "verdict": self.verdict,
            "notes": list(self.notes),
            "cases": [c.to_dict() for c in self.cases],
            "gate": None if self.gate is None else self.gate.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> SpeedVerdict:
        """A record of the current schema (``upgrade`` first for an older one); ValueError
        naming the field for anything malformed."""
        if not isinstance(data, dict):
            raise ValueError("a speed verdict must be an object")
        for key in ("reference", "candidate"):
            if not isinstance(data[key], str):
                raise ValueError(f"{key} must be a string")
        if data["verdict"] not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")
        if not isinstance(data["cases"], list):
            raise ValueError("cases must be a list")
        gate = data.get("gate")
        return cls(
            reference=data["reference"],
            candidate=data["candidate"],
            same_machine=_bool(data, "same_machine"),
            gating=_bool(data, "gating"),
            verdict=data["verdict"],
            cases=tuple(CaseVerdict.from_dict(c) for c in data["cases"]),
            notes=tuple(_strings(data, "notes")),
            confidence=_number(data, "confidence", "the", optional=True),
            interleaved=_bool(data, "interleaved", False),
            reference_series=str(data.get("reference_series") or ""),
            candidate_series=str(data.get("candidate_series") or ""),
            gate=None if gate is None else GateFacts.from_dict(gate),
        )


def cleared(cases: Sequence[CaseVerdict]) -> tuple[list[str], list[str]]:
    """(cases cleared, cases not cleared): a case is cleared when every metric earned no change
    or faster, or when its count (instructions, else ops) did and wall time found nothing slower
    (undecided wall time is no evidence of a slowdown; the count decides)."""
    by_case: dict[str, dict[str, str]] = {}
    for c in cases:
        by_case.setdefault(c.case, {})[c.metric] = c.outcome
    good = (NO_CHANGE, FASTER)
    done, open_ = [], []
    for name, outcomes in by_case.items():
        if all(o in good for o in outcomes.values()) or (
            outcomes.get(INSTRUCTIONS, outcomes.get(OPS)) in good and outcomes.get(WALL) != SLOWER
        ):
            done.append(name)
        else:
            open_.append(name)
    return done, open_


def upgrade(data: JsonObject, version: int) -> JsonObject:
    """A record of an older schema in the current one's terms.

    Schema 1 said "no significant change" and "within noise", which were not earned (no
    equivalence was shown): they read as undecided, and so does its "no regression". Schema 2
    stored the summary in words (now said by whoever shows the record) and the gate's stack key
    at the top level; its gate said why it judged nothing only in its summary. Schema 3 had no
    op counts: no "ops" metric and no case's "ops", which read as none (nothing to change).
    """
    if version == 1:
        cases = []
        for case in data["cases"]:
            word = str(case["verdict"])
            outcome = next((o for o in (SLOWER, FASTER) if word.startswith(o)), UNDECIDED)
            reason = "" if outcome != UNDECIDED else f"{word}, said by an older linreg"
            cases.append({**case, "outcome": outcome, "reason": reason})
        verdict = data["verdict"]
        verdict = verdict if verdict in (REGRESSED, NO_BASELINE) else UNDECIDED_VERDICT
        data = {**data, "verdict": verdict, "cases": cases, "confidence": None,
                "interleaved": False, "reference_series": "", "candidate_series": ""}  # fmt: skip
        version = 2
    if version == 2:
        data = dict(data)
        summary = str(data.pop("summary", "") or "")
        key = data.pop("stack_key", None)
        if isinstance(key, str):
            threshold = next(
                (c.get("threshold") for c in data.get("cases", [])
                 if isinstance(c, dict) and c.get("metric") == INSTRUCTIONS),
                0.03,
            )  # fmt: skip
            data["gate"] = {
                "stack_key": key,
                "threshold": threshold,
                "has_baseline": data.get("verdict") != NO_BASELINE,
                "not_counted": summary.removeprefix("not judged: ")
                if summary.startswith("not judged: ") else "",
            }  # fmt: skip
    return data


def _number(
    data: Mapping[str, Any], key: str, whose: str, optional: bool = False,
    default: float | None = None,
) -> Any:  # fmt: skip
    value = data.get(key) if optional else data[key]
    if value is None:
        if optional:
            return default
        raise ValueError(f"{whose} {key} must be a number")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{whose} {key} must be a number")
    return float(value)


def _pair(data: Mapping[str, Any], key: str, int_values: bool = False) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"a case's {key} must be a list of 2 numbers")
    if int_values:
        return (int(value[0]), int(value[1]))
    return (float(value[0]), float(value[1]))


def _bool(data: Mapping[str, Any], key: str, default: bool | None = None) -> bool:
    value = data.get(key, default) if default is not None else data[key]
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _strings(data: Mapping[str, Any], key: str) -> Sequence[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings")
    return value
