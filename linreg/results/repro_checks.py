"""A repro result set's checks (its checks.json): every check with its figures, the combinations
the matrix left out, and the golden references it rewrote. ``linreg.suites.repro`` decides the
checks; the report, the history site, `linreg compare` and gpu-run's summary read them here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linreg.json_types import JsonObject
from linreg.results.run_comparison import Comparison

CHECK_KINDS = ("determinism", "consistency", "golden", "checkpoint", "resume")


@dataclass(frozen=True)
class PairExplanation:
    """Why a pair that is not bit-identical parts (linreg.compare.first_difference): the first
    differing quantity, or for two dtypes the cause of the horizon, with its one line."""

    kind: str  # "first difference", "horizon" or "not reproduced"
    line: str
    epoch: int | None = None  # where the difference (or the flipped sign) begins
    quantity: str | None = None  # the first differing quantity (first difference, horizon)
    op: str | None = None
    ulps: int | None = None
    sample: int | None = None
    candidate: float | None = None
    reference: float | None = None
    max_abs: float | None = None

    def to_dict(self) -> JsonObject:
        return {key: getattr(self, key) for key in _EXPLANATION_FIELDS}

    @classmethod
    def from_dict(cls, data: Any) -> PairExplanation:
        if not isinstance(data, dict) or not isinstance(data.get("line"), str):
            raise ValueError("a check's explanation must be an object with a line")
        # Written before this record had one shape: a horizon's epoch was its flip_epoch.
        epoch = data.get("epoch", data.get("flip_epoch", data.get("beyond_epoch")))
        return cls(
            kind=str(data.get("kind", "")),
            line=data["line"],
            epoch=epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
            quantity=_text(data.get("quantity", data.get("beyond_quantity"))),
            op=_text(data.get("op")),
            ulps=data.get("ulps") if isinstance(data.get("ulps"), int) else None,
            sample=data.get("sample") if isinstance(data.get("sample"), int) else None,
            candidate=_number(data.get("candidate", data.get("candidate_residual"))),
            reference=_number(data.get("reference", data.get("reference_residual"))),
            max_abs=_number(data.get("max_abs", data.get("beyond_by"))),
        )


_EXPLANATION_FIELDS = ("kind", "line", "epoch", "quantity", "op", "ulps", "sample", "candidate",
                       "reference", "max_abs")  # fmt: skip


@dataclass(frozen=True)
class ReproCheck:
    """One check's outcome: what was compared with what, the required level, and the figures."""

    kind: str  # determinism, consistency, golden, checkpoint, resume
    pair: str  # the kind of pair deciding the requirement (determinism, dtype, threads, ...)
    subject: str
    against: str
    required: str
    holds: bool
    reason: str
    comparison: Comparison | None = None
    explanation: PairExplanation | None = None

    def to_dict(self) -> JsonObject:
        return {
            "kind": self.kind,
            "pair": self.pair,
            "subject": self.subject,
            "against": self.against,
            "required": self.required,
            "holds": self.holds,
            "reason": self.reason,
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "explanation": self.explanation.to_dict() if self.explanation else None,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ReproCheck:
        if not isinstance(data, dict):
            raise ValueError("a check must be an object")
        for key in ("kind", "subject", "against", "reason"):
            if not isinstance(data[key], str):
                raise ValueError(f"a check's {key} must be a string")
        if not isinstance(data["holds"], bool):
            raise ValueError("a check's holds must be true or false")
        comparison, explanation = data.get("comparison"), data.get("explanation")
        return cls(
            kind=data["kind"],
            pair=str(data.get("pair", data["kind"])),
            subject=data["subject"],
            against=data["against"],
            required=str(data.get("required", "")),
            holds=data["holds"],
            reason=data["reason"],
            comparison=None if comparison is None else Comparison.from_dict(comparison),
            explanation=None if explanation is None else PairExplanation.from_dict(explanation),
        )


@dataclass(frozen=True)
class ReferenceChange:
    """A golden reference `linreg repro --update-reference` wrote: new, unchanged or changed."""

    name: str
    status: str
    detail: str


@dataclass(frozen=True)
class ReproChecks:
    """A repro result set's checks.json."""

    checks: tuple[ReproCheck, ...]
    options: Mapping[str, Any]  # linreg.suites.repro_options.ReproOptions.to_dict's
    seconds: float = 0.0
    skipped: tuple[tuple[str, str], ...] = ()  # (run, why) left out of the matrix
    reference_changes: tuple[ReferenceChange, ...] = ()

    @property
    def ok(self) -> bool:
        return all(check.holds for check in self.checks)

    @property
    def epochs(self) -> int | None:
        """The runs' length, as the matrix asked for it."""
        try:
            epochs = self.options["matrix"]["base"]["epochs"]
        except (KeyError, TypeError):
            return None
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None

    def to_dict(self) -> JsonObject:
        return {
            "ok": self.ok,
            "seconds": self.seconds,
            "options": dict(self.options),
            "checks": [c.to_dict() for c in self.checks],
            "skipped": [{"subject": s, "reason": r} for s, r in self.skipped],
            "reference_changes": [vars(c) for c in self.reference_changes],
        }

    @classmethod
    def from_dict(cls, data: Any) -> ReproChecks:
        if not isinstance(data["checks"], list):
            raise ValueError("checks must be a list")
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise ValueError("options must be an object")
        skipped = data.get("skipped") or []
        changes = data.get("reference_changes") or []
        if not isinstance(skipped, list) or not isinstance(changes, list):
            raise ValueError("skipped and reference_changes must be lists")
        return cls(
            checks=tuple(ReproCheck.from_dict(c) for c in data["checks"]),
            options=options,
            seconds=float(data.get("seconds") or 0.0),
            skipped=tuple((str(s["subject"]), str(s["reason"])) for s in skipped),
            reference_changes=tuple(
                ReferenceChange(str(c["name"]), str(c["status"]), str(c["detail"])) for c in changes
            ),
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
