"""A target's run replayed step by step, every quantity its step computed kept: for two such
replays side by side, ``linreg.compare.target_first_difference`` names the first quantity that
parts.

Each quantity of every step is kept as a digest (sha1 of its bytes): enough to find the first
step and quantity whose bits differ. Values are kept only for the steps from ``keep_from`` to
``until``, one file a step, written as the run goes (a million-parameter model's gradients and
parameters are megabytes a step): the walk loads one step of each side at a time.

The files are scratch files of the replay's temporary folder, read back with
``weights_only=True``, never results.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from linreg.engines.target_loop import prepare_target
from linreg.engines.target_observe import TargetStepQuantities
from linreg.target_config import TargetConfig

DIGESTS_FILE = "digests.pt"


def step_file(folder: Path, step: int) -> Path:
    return folder / f"step-{step}.pt"


def _flat(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.detach().reshape(-1).to("cpu", copy=True)


def _digest(tensor: torch.Tensor | None) -> str | None:
    if tensor is None:
        return None
    flat = tensor.detach().reshape(-1).to("cpu").contiguous()
    return hashlib.sha1(flat.view(torch.uint8).numpy().tobytes()).hexdigest()


def _save(value: Any, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    torch.save(value, partial)
    partial.rename(path)


def trace_target(config: TargetConfig, until: int, keep_from: int, folder: Path) -> None:
    """Replay ``config`` (resolved: its steps named) with its own engine through step
    ``until``, into ``folder``: the digests of every step, the values of steps ``keep_from``
    to ``until``."""
    folder.mkdir(parents=True)
    order: list[str] = []
    digests: list[list[str | None]] = []

    def observe(step: int, quantities: TargetStepQuantities) -> None:
        named = quantities.named()
        if not order:
            order.extend(name for name, _ in named)
        digests.append([_digest(tensor) for _, tensor in named])
        if step >= keep_from:
            _save({name: _flat(tensor) for name, tensor in named}, step_file(folder, step))

    steps = config.steps or 0
    stop = until + 1
    prepared = prepare_target(config, on_step=observe, stop_at=stop if stop < steps else None)
    prepared.loop()
    _save({"config": config.to_dict(), "order": order, "digests": digests,
           "keep_from": keep_from}, folder / DIGESTS_FILE)  # fmt: skip


@dataclass(frozen=True)
class TargetTrace:
    """One side's replay as read back: the quantities in step order, every step's digests,
    and its values where kept (loaded a step at a time)."""

    config: dict[str, Any]
    order: tuple[str, ...]
    digests: tuple[tuple[str | None, ...], ...]
    keep_from: int
    folder: Path

    @property
    def dtype(self) -> str:
        return str(self.config["dtype"])

    @property
    def steps(self) -> int:
        return len(self.digests)

    def values(self, step: int) -> dict[str, torch.Tensor | None] | None:
        """The step's values by quantity, or None where they were not kept."""
        path = step_file(self.folder, step)
        if step < self.keep_from or not path.exists():
            return None
        return torch.load(path, weights_only=True)

    @classmethod
    def load(cls, folder: Path) -> TargetTrace:
        data = torch.load(folder / DIGESTS_FILE, weights_only=True)
        return cls(
            config=data["config"],
            order=tuple(data["order"]),
            digests=tuple(tuple(step) for step in data["digests"]),
            keep_from=int(data["keep_from"]),
            folder=folder,
        )
