"""Run: the record of one training run, and the loss history it carries."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from linreg.config import TrainConfig
from linreg.json_types import Fingerprint, JsonObject


@dataclass(frozen=True)
class LossCurve:
    """Every epoch's train loss (before that epoch's step, as the tutorial's ``loss``) and the
    test loss at the evaluated epochs (after the step, in inference mode)."""

    train_loss: tuple[float, ...]
    test_epochs: tuple[int, ...]
    test_loss: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.test_epochs) != len(self.test_loss):
            raise ValueError("test_epochs and test_loss differ in length")

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def rows(self) -> list[tuple[int, float, float | None]]:
        """(epoch, train_loss, test_loss or None), one per epoch."""
        test = dict(zip(self.test_epochs, self.test_loss, strict=True))
        return [(epoch, loss, test.get(epoch)) for epoch, loss in enumerate(self.train_loss)]

    def to_dict(self) -> JsonObject:
        return {
            "train_loss": list(self.train_loss),
            "test_epochs": list(self.test_epochs),
            "test_loss": list(self.test_loss),
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> LossCurve:
        return cls(
            train_loss=finite_floats("train_loss", data["train_loss"]),
            test_epochs=tuple(_integer("test_epochs", v) for v in data["test_epochs"]),
            test_loss=finite_floats("test_loss", data["test_loss"]),
        )


def finite_floats(name: str, values: Any) -> tuple[float, ...]:
    """Numbers read back from a record: a NaN, a string or a bool there is a corrupt file."""
    if not isinstance(values, list):
        raise ValueError(f"{name} must be a list of numbers")
    out = []
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise ValueError(f"{name} holds {v!r}, not a finite number")
        out.append(float(v))
    return tuple(out)


def _integer(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} holds {value!r}, not an integer")
    return value


@dataclass(frozen=True)
class Resumption:
    """Where a resumed run took up: the training checkpoint it was read from (the path as
    opened, made absolute), the file's sha256 and the epoch it held (epochs 0 … epoch − 1 were
    trained before, in another process)."""

    checkpoint: str
    sha256: str
    epoch: int

    def to_dict(self) -> JsonObject:
        return {"checkpoint": self.checkpoint, "sha256": self.sha256, "epoch": self.epoch}

    @classmethod
    def from_dict(cls, data: Any) -> Resumption:
        if not isinstance(data, dict):
            raise ValueError("resumed_from must be an object with checkpoint, sha256 and epoch")
        checkpoint, sha256, epoch = data["checkpoint"], data["sha256"], data["epoch"]
        if not isinstance(checkpoint, str) or not isinstance(sha256, str):
            raise ValueError("resumed_from's checkpoint and sha256 must be strings")
        return cls(checkpoint, sha256, _integer("resumed_from.epoch", epoch))


@dataclass(frozen=True)
class Run:
    """Config, environment, history, parameters before and after, their hash, and timings.

    ``config`` is the resolved config (a concrete device). Parameters are stored as exact values
    (see ``linreg.state``); ``state_hash`` is the content hash of the final state_dict.
    """

    config: TrainConfig
    environment: Fingerprint
    history: LossCurve
    initial_state: JsonObject  # linreg.state.state_to_json's
    final_state: JsonObject
    state_hash: str
    timings: dict[str, float] = field(default_factory=dict)
    # When the record was written (UTC, sortable as text), where it says: which of several runs
    # of one config is the newest. Not part of what a run is: two records of one run are equal.
    created: str | None = field(default=None, compare=False)
    # Where a run finished from a training checkpoint took up (None: trained in one go). How
    # it was trained, not what it is: a resumed run equals the uninterrupted one.
    resumed_from: Resumption | None = field(default=None, compare=False)

    @property
    def final_weight(self) -> float:
        return self.final_state["linear.weight"]["values"][0]

    @property
    def final_bias(self) -> float:
        return self.final_state["linear.bias"]["values"][0]

    def to_dict(self) -> JsonObject:
        """The record's body; linreg.results adds its kind and schema version when writing."""
        return {
            "config_id": self.config.config_id,
            "config": self.config.to_dict(),
            "environment": self.environment,
            "state_hash": self.state_hash,
            "timings": self.timings,
            "initial_state": self.initial_state,
            "final_state": self.final_state,
            "history": self.history.to_dict(),
            **({} if self.created is None else {"created": self.created}),
            **({} if self.resumed_from is None else {"resumed_from": self.resumed_from.to_dict()}),
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> Run:
        """Read a run record back; ValueError when its parts do not fit together."""
        run = cls._from_dict(data)
        c = run.config
        if run.history.epochs != c.epochs:
            raise ValueError(f"history has {run.history.epochs} epochs, config says {c.epochs}")
        if run.history.test_epochs != tuple(range(0, c.epochs, c.eval_every)):
            raise ValueError("test epochs do not follow eval_every")
        for state in (run.initial_state, run.final_state):
            if not isinstance(state, dict) or set(state) != {"linear.weight", "linear.bias"}:
                raise ValueError("parameters must be linear.weight and linear.bias")
            for name, entry in state.items():
                if not isinstance(entry, dict):
                    raise ValueError(f"{name} must be an object with dtype, shape and values")
                finite_floats(name, entry["values"])
        if not isinstance(run.state_hash, str):
            raise ValueError("state_hash must be a string")
        if not isinstance(run.timings, dict):
            raise ValueError("timings must be an object")
        if not isinstance(run.environment, dict):
            raise ValueError("environment must be an object")
        if run.created is not None and not isinstance(run.created, str):
            raise ValueError("created must be a string")
        if run.resumed_from is not None and not 0 <= run.resumed_from.epoch <= c.epochs:
            raise ValueError(f"resumed_from.epoch {run.resumed_from.epoch} is not in "
                             f"[0, {c.epochs}]")  # fmt: skip
        return run

    @classmethod
    def _from_dict(cls, data: JsonObject) -> Run:
        return cls(
            config=TrainConfig.from_dict(data["config"]),
            environment=data["environment"],
            history=LossCurve.from_dict(data["history"]),
            initial_state=data["initial_state"],
            final_state=data["final_state"],
            state_hash=data["state_hash"],
            timings=data.get("timings", {}),
            created=data.get("created"),
            # Records written before runs said so hold no key: trained in one go, or unknown.
            resumed_from=(
                None if data.get("resumed_from") is None
                else Resumption.from_dict(data["resumed_from"])
            ),
        )  # fmt: skip
