"""The steps of a job (`linreg run`'s job.json, `linreg gpu-run`'s summary): which ran, how
each ended, why, and in how much of its budget. One record for both jobs, as one runner
(``linreg.jobs.steps``) runs both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linreg.json_types import JsonObject

OK, FAILED, TIMED_OUT, SKIPPED, NOT_JUDGED = "ok", "failed", "timed-out", "skipped", "not judged"
STATUSES = (OK, FAILED, TIMED_OUT, SKIPPED, NOT_JUDGED)


@dataclass(frozen=True)
class JobStep:
    """One step's end: ``ok``; ``not judged`` (it ran, but had nothing to decide by: no
    baseline of this stack); ``skipped`` (no time left for its budget); ``failed`` or
    ``timed-out`` (stopped at its budget, keeping what it finished)."""

    name: str
    status: str
    detail: str
    description: str = ""
    budget_seconds: float | None = None
    seconds: float | None = None
    cuda_skipped: str | None = None  # why the step's CUDA part did not run, where it did not

    @property
    def ok(self) -> bool:
        return self.status not in (FAILED, TIMED_OUT)

    def to_dict(self) -> JsonObject:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "description": self.description,
            "budget_seconds": self.budget_seconds,
            "seconds": self.seconds,
            "cuda_skipped": self.cuda_skipped,
        }

    @classmethod
    def from_dict(cls, data: Any) -> JobStep:
        if not isinstance(data, dict):
            raise ValueError("a step must be an object")
        for key in ("name", "status", "detail"):
            if not isinstance(data[key], str):
                raise ValueError(f"a step's {key} must be a string")
        if data["status"] not in STATUSES:
            raise ValueError(f"a step's status must be one of {', '.join(STATUSES)}")
        return cls(
            name=data["name"],
            status=data["status"],
            detail=data["detail"],
            description=str(data.get("description") or ""),
            budget_seconds=_seconds(data.get("budget_seconds")),
            seconds=_seconds(data.get("seconds")),
            cuda_skipped=data.get("cuda_skipped") if isinstance(data.get("cuda_skipped"), str)
            else None,
        )  # fmt: skip


@dataclass(frozen=True)
class JobRecord:
    """`linreg run`'s job.json: its steps, in the order they ran."""

    steps: tuple[JobStep, ...]

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def to_dict(self) -> JsonObject:
        return {"steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, data: Any) -> JobRecord:
        steps = data["steps"]
        if not isinstance(steps, list):
            raise ValueError("steps must be a list")
        return cls(tuple(JobStep.from_dict(s) for s in steps))


def upgrade(data: JsonObject, version: int) -> JsonObject:
    """Schema 1 said of each step only whether it held (``ok``)."""
    steps = data["steps"]
    if not isinstance(steps, list) or not all(
        isinstance(s, dict) and isinstance(s.get("ok"), bool) for s in steps
    ):
        raise ValueError("steps must be a list of {name, ok, detail}")
    return {**data, "steps": [{**s, "status": OK if s["ok"] else FAILED} for s in steps]}


def _seconds(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
