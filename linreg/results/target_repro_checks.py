"""A target's repro set's checks (its checks.json): each check with its figures per quantity,
the replay's finding where a pair parts, and the combinations the matrix left out.

``linreg.suites.target_repro`` decides the checks by the rules of
``linreg.compare.target_numerics``; the CLI says them in words. A check holds, fails, or — a
determinism check of a target that declares its nondeterminism — is ``declared``: said, never
passed, and not a failure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linreg.json_types import JsonObject
from linreg.target_config import TargetRef

CHECK_KINDS = ("determinism", "consistency", "resume")
STATUSES = ("holds", "fails", "declared")
# How a quantity is judged: the same bits; within the dtype's tolerance of float64 by RMS
# (a dtype's CPU one-thread eager run, the twin); or no further from float64 than a multiple of
# the twin's own error (any other run), as torch._dynamo.utils.same judges with its fp64_ref.
RULES = ("bitwise", "rms", "fp64")
DIFFERENCE_KINDS = ("first difference", "beyond tolerance", "within tolerance", "not reproduced",
                    "not replayed")  # fmt: skip


@dataclass(frozen=True)
class QuantityFigures:
    """One quantity of a check (the train loss curve, the eval loss curve, a final parameter or
    buffer) with the figures that decide it.

    ``error`` is the candidate's root-mean-square error to the reference (float64), ``relative``
    that error over the reference's RMS; ``twin_error`` the twin's own error to float64 (rule
    fp64); ``allowed`` the bound ``error`` is held to; ``max_abs`` the largest elementwise
    difference; ``first_step`` for a curve, the first step beyond the dtype's elementwise
    tolerance (None: none is)."""

    quantity: str
    rule: str
    holds: bool
    error: float | None = None
    relative: float | None = None
    twin_error: float | None = None
    allowed: float | None = None
    max_abs: float | None = None
    first_step: int | None = None
    note: str | None = None  # why it fails where no figure says it (a shape, an integer buffer)

    def to_dict(self) -> JsonObject:
        return {key: _finite_or_none(getattr(self, key)) for key in _FIGURE_FIELDS}

    @classmethod
    def from_dict(cls, data: Any) -> QuantityFigures:
        if not isinstance(data, dict) or not isinstance(data.get("quantity"), str):
            raise ValueError("a quantity's figures must be an object naming the quantity")
        if data.get("rule") not in RULES or not isinstance(data.get("holds"), bool):
            raise ValueError(f"a quantity's rule must be one of {', '.join(RULES)}")
        return cls(
            quantity=data["quantity"],
            rule=data["rule"],
            holds=data["holds"],
            error=_number(data.get("error")),
            relative=_number(data.get("relative")),
            twin_error=_number(data.get("twin_error")),
            allowed=_number(data.get("allowed")),
            max_abs=_number(data.get("max_abs")),
            first_step=_integer(data.get("first_step")),
            note=data.get("note") if isinstance(data.get("note"), str) else None,
        )


_FIGURE_FIELDS = ("quantity", "rule", "holds", "error", "relative", "twin_error", "allowed",
                  "max_abs", "first_step", "note")  # fmt: skip


@dataclass(frozen=True)
class TargetDifference:
    """Where two runs part, found by replaying both (one process a side): the step and the
    quantity (named by module path: ``grad blocks.0.attn.weight``), by how many ULP and how
    much; for two dtypes, the first quantity beyond the candidate dtype's tolerance."""

    kind: str
    line: str
    step: int | None = None
    quantity: str | None = None
    ulps: int | None = None
    max_abs: float | None = None
    allowed: float | None = None

    def to_dict(self) -> JsonObject:
        return {key: _finite_or_none(getattr(self, key)) for key in _DIFFERENCE_FIELDS}

    @classmethod
    def from_dict(cls, data: Any) -> TargetDifference:
        if not isinstance(data, dict) or not isinstance(data.get("line"), str):
            raise ValueError("a difference must be an object with a line")
        if data.get("kind") not in DIFFERENCE_KINDS:
            raise ValueError(f"a difference's kind must be one of {', '.join(DIFFERENCE_KINDS)}")
        return cls(
            kind=data["kind"],
            line=data["line"],
            step=_integer(data.get("step")),
            quantity=data.get("quantity") if isinstance(data.get("quantity"), str) else None,
            ulps=_integer(data.get("ulps")),
            max_abs=_number(data.get("max_abs")),
            allowed=_number(data.get("allowed")),
        )


_DIFFERENCE_FIELDS = ("kind", "line", "step", "quantity", "ulps", "max_abs", "allowed")


@dataclass(frozen=True)
class TargetReproCheck:
    """One check: what was compared with what, by which rule, its status and its figures."""

    kind: str  # determinism, consistency, resume
    pair: str  # determinism, dtype, threads, device, engine, resume
    subject: str
    against: str
    status: str  # holds, fails, declared
    reason: str
    quantities: tuple[QuantityFigures, ...] = ()
    difference: TargetDifference | None = None

    @property
    def holds(self) -> bool:
        return self.status == "holds"

    @property
    def fails(self) -> bool:
        return self.status == "fails"

    def to_dict(self) -> JsonObject:
        return {
            "kind": self.kind,
            "pair": self.pair,
            "subject": self.subject,
            "against": self.against,
            "status": self.status,
            "reason": self.reason,
            "quantities": [q.to_dict() for q in self.quantities],
            "difference": None if self.difference is None else self.difference.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> TargetReproCheck:
        if not isinstance(data, dict):
            raise ValueError("a check must be an object")
        for key in ("kind", "pair", "subject", "against", "reason"):
            if not isinstance(data[key], str):
                raise ValueError(f"a check's {key} must be a string")
        if data["kind"] not in CHECK_KINDS or data["status"] not in STATUSES:
            raise ValueError(f"a check's kind and status must be one of {', '.join(CHECK_KINDS)}"
                             f" and {', '.join(STATUSES)}")  # fmt: skip
        if not isinstance(data.get("quantities", []), list):
            raise ValueError("a check's quantities must be a list")
        difference = data.get("difference")
        return cls(
            kind=data["kind"],
            pair=data["pair"],
            subject=data["subject"],
            against=data["against"],
            status=data["status"],
            reason=data["reason"],
            quantities=tuple(QuantityFigures.from_dict(q) for q in data.get("quantities", [])),
            difference=None if difference is None else TargetDifference.from_dict(difference),
        )


@dataclass(frozen=True)
class TargetReproChecks:
    """A target's repro set's checks.json."""

    target: TargetRef
    checks: tuple[TargetReproCheck, ...]
    options: Mapping[str, Any]  # linreg.suites.target_repro_options.TargetReproOptions's
    seconds: float = 0.0
    skipped: tuple[tuple[str, str], ...] = ()  # (what, why) left out of the matrix

    @property
    def ok(self) -> bool:
        return not any(check.fails for check in self.checks)

    @property
    def failures(self) -> list[TargetReproCheck]:
        return [c for c in self.checks if c.fails]

    def to_dict(self) -> JsonObject:
        return {
            "ok": self.ok,
            "target": self.target.to_dict(),
            "seconds": self.seconds,
            "options": dict(self.options),
            "checks": [c.to_dict() for c in self.checks],
            "skipped": [{"subject": s, "reason": r} for s, r in self.skipped],
        }

    @classmethod
    def from_dict(cls, data: Any) -> TargetReproChecks:
        if not isinstance(data["checks"], list) or not isinstance(data.get("options"), dict):
            raise ValueError("checks must be a list and options an object")
        skipped = data.get("skipped") or []
        if not isinstance(skipped, list):
            raise ValueError("skipped must be a list")
        return cls(
            target=TargetRef.from_dict(data["target"]),
            checks=tuple(TargetReproCheck.from_dict(c) for c in data["checks"]),
            options=data["options"],
            seconds=float(data.get("seconds") or 0.0),
            skipped=tuple((str(s["subject"]), str(s["reason"])) for s in skipped),
        )


def _finite_or_none(value: Any) -> Any:
    """JSON has no infinity: an unbounded figure is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
