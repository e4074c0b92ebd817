"""What `linreg gpu-run` found (its summary.json): its steps, the CPU/GPU crossover per dtype,
the largest cuda epoch against the copy floor, the tutorial's run cpu over cuda, the repro
levels and the numeric flags each kind of run recorded, and the machine's fingerprint.
``linreg.jobs.gpu_summary`` computes it from the run's own result folder."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from linreg.json_types import JsonObject
from linreg.results.job_steps import JobStep

T = TypeVar("T")


@dataclass(frozen=True)
class CrossoverPoint:
    samples: int
    cpu_epoch_us: float
    cuda_epoch_us: float

    @property
    def cpu_over_cuda(self) -> float:
        return self.cpu_epoch_us / self.cuda_epoch_us


@dataclass(frozen=True)
class CrossoverRow:
    """Per dtype, engine and measure: from which size a cuda epoch beats a cpu epoch."""

    kind: str  # epoch (one eager epoch) or engine_epoch (a steady epoch in a run)
    measure: str
    dtype: str
    engine: str
    crossover_samples: int | None
    verdict: str
    points: tuple[CrossoverPoint, ...]


@dataclass(frozen=True)
class FloorRow:
    """A cuda epoch at its largest size against the least time its bytes can take."""

    kind: str
    dtype: str
    engine: str
    samples: int
    epoch_us: float
    device_epoch_us: float | None
    min_bytes: float
    copy_gb_per_s: float
    floor_us: float
    floor_multiple: float


@dataclass(frozen=True)
class TrainRatio:
    dtype: str
    engine: str
    cpu_epoch_us: float
    cuda_epoch_us: float
    cpu_over_cuda: float


@dataclass(frozen=True)
class ReproLevel:
    """The level a determinism or consistency check reached."""

    kind: str
    pair: str | None
    subject: str
    against: str
    required: str | None
    level: str
    horizon: int | None
    holds: bool


@dataclass(frozen=True)
class GpuRunSummary:
    machine: str
    cuda: bool
    cuda_reason: str | None
    verdict: str  # "OK" or "FAIL (steps)"
    seconds: float
    budget_seconds: float
    steps: tuple[JobStep, ...]
    crossover: tuple[CrossoverRow, ...] = ()
    floor: tuple[FloorRow, ...] = ()
    train_ratios: tuple[TrainRatio, ...] = ()
    repro_levels: tuple[ReproLevel, ...] = ()
    # The numeric flags each (device, TF32, determinism) kind of run recorded in its fingerprint,
    # and this machine's fingerprint: entries as linreg.env captures them.
    repro_flags: tuple[Mapping[str, Any], ...] = ()
    fingerprint: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> JsonObject:
        body = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        body["steps"] = [s.to_dict() for s in self.steps]
        for key in ("crossover", "floor", "train_ratios", "repro_levels"):
            body[key] = [dataclasses.asdict(row) for row in body[key]]
        for row, data in zip(self.crossover, body["crossover"], strict=True):
            for point, point_data in zip(row.points, data["points"], strict=True):
                point_data["cpu_over_cuda"] = point.cpu_over_cuda
        body["repro_flags"] = [dict(f) for f in self.repro_flags]
        body["fingerprint"] = dict(self.fingerprint)
        return body

    @classmethod
    def from_dict(cls, data: Any) -> GpuRunSummary:
        if not isinstance(data["machine"], str) or not isinstance(data["cuda"], bool):
            raise ValueError("machine must be a string and cuda true or false")
        for key in ("steps", "crossover", "floor", "repro_levels"):
            if not isinstance(data[key], list) or not all(isinstance(x, dict) for x in data[key]):
                raise ValueError(f"{key} must be a list of objects")
        crossover = tuple(
            _build(CrossoverRow, {**row, "points": tuple(
                _build(CrossoverPoint, p) for p in row.get("points", []))})
            for row in data["crossover"]
        )  # fmt: skip
        return cls(
            machine=data["machine"],
            cuda=data["cuda"],
            cuda_reason=data.get("cuda_reason"),
            verdict=str(data.get("verdict", "")),
            seconds=float(data.get("seconds") or 0.0),
            budget_seconds=float(data.get("budget_seconds") or 0.0),
            steps=tuple(JobStep.from_dict(s) for s in data["steps"]),
            crossover=crossover,
            floor=tuple(_build(FloorRow, r) for r in data["floor"]),
            train_ratios=tuple(_build(TrainRatio, r) for r in data.get("train_ratios", [])),
            repro_levels=tuple(_build(ReproLevel, r) for r in data["repro_levels"]),
            repro_flags=tuple(dict(f) for f in data.get("repro_flags", [])),
            fingerprint=dict(data.get("fingerprint") or {}),
        )


def _build(cls: type[T], data: Mapping[str, Any]) -> T:
    """A row from its stored fields (any extra, such as a ratio stored for the reader, left
    out); a missing field is a KeyError naming it."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: data[name] for name in names})
