"""A target's training checkpoint: everything a fresh process needs to finish the run, in one
torch file (``linreg train --target X --stop-at K``; finished with ``--resume-from``).

It holds its kind and schema version, the torch that wrote it, the resolved config (the
target's spec, name and code hash among it), the step reached, the model's, optimizer's and
scheduler's state_dicts, every generator (torch's CPU one, each CUDA device's, Python's, NumPy's,
the data generator), the data position and the history so far. It is made in memory (as
``linreg.results.checkpoint`` makes model.pth), tried once with ``weights_only=True`` before it
is written, written through the one atomic writer, never over a file, and read back with
``weights_only=True`` and checked part by part: a damaged or foreign file is refused by name.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from linreg.errors import CheckpointError
from linreg.numerics import torch_dtype
from linreg.results.checkpoint import (
    checked_training_state,
    load_torch_file,
    state_dict_of,
    torch_bytes,
)
from linreg.results.files import write_file
from linreg.results.kinds import TARGET_TRAINING_CHECKPOINT, TRAINING_CHECKPOINT
from linreg.target import TargetError
from linreg.target_config import TargetConfig
from linreg.target_state import DataPosition, TargetTrainingState
from linreg.training_state import check_rng

SCHEMA_VERSION = 1


def save_target_checkpoint(state: TargetTrainingState, path: str | Path) -> Path:
    """Write ``state`` to ``path``; an existing file is refused (results only grow)."""
    position = state.position
    payload = {
        "kind": TARGET_TRAINING_CHECKPOINT,
        "schema_version": SCHEMA_VERSION,
        "torch": str(torch.__version__),  # a str subclass weights_only would refuse
        "config": state.config.to_dict(),
        "step": state.step,
        "model": state.model,
        "optimizer": state.optimizer,
        "scheduler": state.scheduler,
        "rng": state.rng,
        "data": {
            "generator": state.data_generator,
            "pass": position.pass_index,
            "batch": position.batch,
            "pass_generator": position.pass_generator,
            "pass_rng": position.pass_rng,
        },
        "history": {
            "train_loss": state.train_loss,
            "eval_steps": list(state.eval_steps),
            "eval_loss": list(state.eval_loss),
        },
        "train_seconds": state.train_seconds,
    }
    data = torch_bytes(payload)
    _check_loadable(payload, data, state.config.target.spec)
    return write_file(path, lambda handle: handle.write(data), replace=False)


def _check_loadable(payload: Mapping[str, Any], data: bytes, spec: str) -> None:
    """A checkpoint that torch.load(weights_only=True) would refuse is not written: the part
    holding something other than tensors and plain values is named (a scheduler holding a
    function, an optimizer holding an object)."""
    try:
        torch.load(io.BytesIO(data), weights_only=True)
        return
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    for part in ("scheduler", "optimizer", "model"):
        try:
            torch.load(io.BytesIO(torch_bytes(payload[part])), weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError):
            raise TargetError(spec, f"its {part}'s state_dict holds something other than "
                              "tensors and plain values; a checkpoint read with weights_only=True"
                              f" cannot hold it ({first})") from None  # fmt: skip
    raise TargetError(spec, f"its state cannot be checkpointed ({first})")


def is_target_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a target's training checkpoint (a quick look; the loader checks)."""
    try:
        data = load_torch_file(Path(path))
    except CheckpointError:
        return False
    return isinstance(data, Mapping) and data.get("kind") == TARGET_TRAINING_CHECKPOINT


def load_target_checkpoint(path: str | Path) -> TargetTrainingState:
    """Read a target's training checkpoint written by this torch; refuse anything else, naming
    the file and what is wrong with it."""
    path = Path(path)
    data = load_torch_file(path)
    if not isinstance(data, Mapping) or data.get("kind") != TARGET_TRAINING_CHECKPOINT:
        if isinstance(data, Mapping) and data.get("kind") == TRAINING_CHECKPOINT:
            raise CheckpointError(f"{path}: the tutorial's training checkpoint, not a target's; "
                                  "finish it without --target")  # fmt: skip
        raise CheckpointError(f"{path}: not a target's training checkpoint (write one with "
                              "linreg train --target SPEC --stop-at STEP)")  # fmt: skip
    return checked_training_state(
        path, data, "target checkpoint", SCHEMA_VERSION, _state, lambda state: state.step
    )


def _state(path: Path, data: Mapping[str, Any]) -> TargetTrainingState:
    config = TargetConfig.from_dict(dict(data["config"]))
    if config.steps is None or config.device == "auto":
        raise ValueError("its config is not a resolved one (steps and device named)")
    dtype = torch_dtype(config.dtype)
    step = data["step"]
    if not _is_int(step) or not 1 <= step < config.steps:
        raise ValueError(f"step {step!r} is not in [1, {config.steps - 1}]")
    model = state_dict_of(path, data["model"])
    for name, tensor in model.items():
        if tensor.is_floating_point() and tensor.dtype != dtype:
            raise ValueError(f"{name} is {tensor.dtype}, the config says {config.dtype}")
        _finite(name, tensor)
    optimizer = data["optimizer"]
    if not isinstance(optimizer, dict) or set(optimizer) != {"state", "param_groups"}:
        raise ValueError("the optimizer entry is not a torch.optim state_dict")
    scheduler = data["scheduler"]
    if scheduler is not None and not isinstance(scheduler, dict):
        raise ValueError("the scheduler entry is not a state_dict")
    rng = _rng(data["rng"], "the generators")
    raw = data["data"]
    generator = _generator_state(raw["generator"], "the data generator")
    pass_index, batch = raw["pass"], raw["batch"]
    if not (_is_int(pass_index) and _is_int(batch) and pass_index >= 0 and batch >= 0):
        raise ValueError("the data position's pass and batch must be integers >= 0")
    pass_generator = raw["pass_generator"]
    if pass_generator is not None:
        pass_generator = _generator_state(pass_generator, "the data generator at the pass")
    pass_rng = None if raw["pass_rng"] is None else _rng(raw["pass_rng"], "the pass's generators")
    history = data["history"]
    train_loss, eval_steps, eval_loss = (history["train_loss"], history["eval_steps"],
                                         history["eval_loss"])  # fmt: skip
    if not isinstance(train_loss, torch.Tensor) or train_loss.dtype != dtype:
        raise ValueError(f"the train loss history is not a {config.dtype} tensor")
    if tuple(train_loss.shape) != (step,):
        raise ValueError(f"the train loss history holds {train_loss.numel()} losses, not {step}")
    _finite("the train loss history", train_loss)
    if not isinstance(eval_steps, list) or not all(_is_int(s) and 0 <= s < step
                                                   for s in eval_steps):  # fmt: skip
        raise ValueError("the eval steps must be steps before the checkpoint's")
    if eval_steps != sorted(set(eval_steps)):
        raise ValueError("the eval steps must increase")
    if not isinstance(eval_loss, list) or len(eval_loss) != len(eval_steps):
        raise ValueError("the eval losses and eval steps differ in length")
    if not all(_is_finite_number(v) for v in eval_loss):
        raise ValueError("the eval loss history holds a value that is not a finite number")
    seconds = data["train_seconds"]
    if not _is_finite_number(seconds) or seconds < 0:
        raise ValueError(f"train_seconds {seconds!r} is not a number >= 0")
    return TargetTrainingState(
        config=config,
        step=step,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        rng=rng,
        data_generator=generator,
        position=DataPosition(pass_index, batch, pass_generator, pass_rng),
        train_loss=train_loss,
        eval_steps=tuple(eval_steps),
        eval_loss=tuple(float(v) for v in eval_loss),
        train_seconds=float(seconds),
    )


def _generator_state(state: Any, what: str) -> torch.Tensor:
    if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8 or state.ndim != 1:
        raise ValueError(f"{what}'s state is not a uint8 vector")
    try:
        torch.Generator().set_state(state)
    except RuntimeError as exc:
        raise ValueError(f"{what}'s state does not restore "
                         f"({str(exc).splitlines()[0][:120]})") from None  # fmt: skip
    return state


def _rng(rng: Any, what: str) -> dict[str, Any]:
    # Each generator's state is tried on a throwaway generator first, where a damaged one is a
    # refused file rather than a failure when the resumed loop sets the process's own.
    try:
        check_rng(rng)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    cuda = rng.get("cuda")
    if cuda is None:
        return dict(rng)
    if not torch.cuda.is_available():
        # Written where CUDA was present, resumed where it is not: no CUDA generator to set.
        return {k: v for k, v in rng.items() if k != "cuda"}
    if len(cuda) != torch.cuda.device_count():
        raise ValueError(f"{what}: {len(cuda)} CUDA generator states, this machine has "
                         f"{torch.cuda.device_count()} CUDA devices")  # fmt: skip
    return dict(rng)


def _finite(name: str, tensor: torch.Tensor) -> None:
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} holds non-finite values")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
