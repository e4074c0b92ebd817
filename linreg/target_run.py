"""TargetRun: the record of one run of a target, the same shape whatever the engine.

Like the tutorial's Run it lives in the core, below the engines that build it; linreg.results
writes it (a run folder) and reads it back (kind "target-run"). Parameters are recorded as a
digest each (shape, dtype, sha256 of the bytes) rather than as values: a million parameters as
JSON numbers would be tens of megabytes, and the values themselves are in the run folder's
model.pth.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from linreg.config import DTYPES
from linreg.json_types import Fingerprint, JsonObject
from linreg.run import Resumption, finite_floats
from linreg.target_config import TargetConfig

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class TensorDigest:
    """One tensor of a state_dict: its shape, dtype, the sha256 of its raw bytes, and whether it
    is a buffer (BatchNorm's running statistics) rather than a parameter."""

    shape: tuple[int, ...]
    dtype: str
    sha256: str
    buffer: bool = False

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def to_dict(self) -> JsonObject:
        return {"shape": list(self.shape), "dtype": self.dtype, "sha256": self.sha256,
                "buffer": self.buffer}  # fmt: skip

    @classmethod
    def from_dict(cls, data: JsonObject) -> TensorDigest:
        shape = data["shape"]
        if not isinstance(shape, list) or not all(_is_int(n) and n >= 0 for n in shape):
            raise ValueError(f"shape {shape!r} is not a list of sizes")
        if not isinstance(data["sha256"], str) or not _SHA256.match(data["sha256"]):
            raise ValueError(f"sha256 {data['sha256']!r} is not 64 hex digits")
        if not isinstance(data["dtype"], str) or not isinstance(data.get("buffer", False), bool):
            raise ValueError("dtype must be a string and buffer true or false")
        return cls(tuple(shape), data["dtype"], data["sha256"], data.get("buffer", False))


@dataclass(frozen=True)
class TargetTimings:
    """The loop's own time (synchronised with the device) over ``timed_steps`` steps, and for
    the compiled engine the time of the steps that compiled a graph, kept apart."""

    train_seconds: float
    step_us: float
    timed_steps: int
    compile_seconds: float | None = None

    def to_dict(self) -> JsonObject:
        data: JsonObject = {"train_seconds": self.train_seconds, "step_us": self.step_us,
                            "timed_steps": self.timed_steps}  # fmt: skip
        if self.compile_seconds is not None:
            data["compile_seconds"] = self.compile_seconds
        return data

    @classmethod
    def from_dict(cls, data: JsonObject) -> TargetTimings:
        numbers = [data["train_seconds"], data["step_us"], data.get("compile_seconds") or 0.0]
        if not all(_is_number(v) and math.isfinite(v) and v >= 0 for v in numbers):
            raise ValueError("timings must be finite numbers >= 0")
        if not _is_int(data["timed_steps"]) or data["timed_steps"] < 0:
            raise ValueError("timed_steps must be an integer >= 0")
        return cls(
            float(data["train_seconds"]),
            float(data["step_us"]),
            data["timed_steps"],
            None if data.get("compile_seconds") is None else float(data["compile_seconds"]),
        )


@dataclass(frozen=True)
class TargetRun:
    """Config (resolved: a concrete device and number of steps), environment, the train loss of
    every step (before that step's update), the eval loss after each step in ``eval_steps``,
    a digest of every parameter and buffer after training, their content hash, and timings.

    Two records of one run are equal: timings, the time it was written and how it was trained
    (in one go or resumed) are not part of what a run is.
    """

    config: TargetConfig
    environment: Fingerprint
    train_loss: tuple[float, ...]
    eval_steps: tuple[int, ...]
    eval_loss: tuple[float, ...]
    parameters: dict[str, TensorDigest]
    state_hash: str
    timings: TargetTimings = field(compare=False)
    created: str | None = field(default=None, compare=False)
    resumed_from: Resumption | None = field(default=None, compare=False)

    @property
    def steps(self) -> int:
        return len(self.train_loss)

    @property
    def parameter_count(self) -> int:
        """The number of trained values (buffers aside)."""
        return sum(d.numel for d in self.parameters.values() if not d.buffer)

    def rows(self) -> list[tuple[int, float, float | None]]:
        """(step, train_loss, eval_loss or None), one per step."""
        evals = dict(zip(self.eval_steps, self.eval_loss, strict=True))
        return [(step, loss, evals.get(step)) for step, loss in enumerate(self.train_loss)]

    def to_dict(self) -> JsonObject:
        """The record's body; linreg.results adds its kind and schema version when writing."""
        return {
            "config_id": self.config.config_id,
            "config": self.config.to_dict(),
            "environment": self.environment,
            "train_loss": list(self.train_loss),
            "eval_steps": list(self.eval_steps),
            "eval_loss": list(self.eval_loss),
            "parameters": {name: d.to_dict() for name, d in sorted(self.parameters.items())},
            "state_hash": self.state_hash,
            "timings": self.timings.to_dict(),
            **({} if self.created is None else {"created": self.created}),
            **({} if self.resumed_from is None else {"resumed_from": self.resumed_from.to_dict()}),
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> TargetRun:
        """Read a record back; ValueError (or ConfigError) when its parts do not fit together."""
        config = TargetConfig.from_dict(data["config"])
        raw_steps = data["eval_steps"]
        if not isinstance(raw_steps, list) or not all(_is_int(s) for s in raw_steps):
            raise ValueError("eval_steps must be a list of integers")
        parameters = data["parameters"]
        if not isinstance(parameters, dict) or not parameters:
            raise ValueError("parameters must be an object naming each tensor")
        run = cls(
            config=config,
            environment=data["environment"],
            train_loss=finite_floats("train_loss", data["train_loss"]),
            eval_steps=tuple(raw_steps),
            eval_loss=finite_floats("eval_loss", data["eval_loss"]),
            parameters={name: TensorDigest.from_dict(d) for name, d in parameters.items()},
            state_hash=data["state_hash"],
            timings=TargetTimings.from_dict(data["timings"]),
            created=data.get("created"),
            resumed_from=(
                None if data.get("resumed_from") is None
                else Resumption.from_dict(data["resumed_from"])
            ),
        )  # fmt: skip
        run.check()
        return run

    def check(self) -> None:
        """ValueError naming the first part that does not fit the others."""
        if self.config.steps is None or self.steps != self.config.steps:
            raise ValueError(f"{self.steps} train losses, config says {self.config.steps} steps")
        if len(self.eval_steps) != len(self.eval_loss):
            raise ValueError("eval_steps and eval_loss differ in length")
        if list(self.eval_steps) != sorted(set(self.eval_steps)) or any(
            not 0 <= s < self.steps for s in self.eval_steps
        ):
            raise ValueError("eval_steps must be increasing steps of the run")
        if not isinstance(self.state_hash, str) or not _SHA256.match(self.state_hash):
            raise ValueError("state_hash must be 64 hex digits")
        if not isinstance(self.environment, dict):
            raise ValueError("environment must be an object")
        if self.created is not None and not isinstance(self.created, str):
            raise ValueError("created must be a string")
        floating = [d.dtype for d in self.parameters.values() if d.dtype in DTYPES]
        if not floating:
            raise ValueError("no floating parameter: not a trained model")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
