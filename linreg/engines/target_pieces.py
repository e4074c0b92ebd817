"""A target run's state piece by piece, read from the live objects, each under a readable name
with a JSON value: what a stopped run had and what a fresh process restored are set side by
side (``linreg.compare.target_resume``) and the first piece that differs is named.

The pieces are read from the model, the optimizer, the scheduler and the generators themselves,
not from the state_dicts a checkpoint saves: a scheduler whose ``state_dict`` leaves something
out saves a checkpoint that agrees with itself, and only its live ``last_epoch`` shows what the
resumed run lost. Tensors of more than a few values are given as a digest.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import torch

from linreg.target_state import DataPosition
from linreg.training_state import rng_digests

# Tensors of at most this many elements are given as their values; larger ones as a digest.
EXACT_ELEMENTS = 4
# Attributes of a scheduler that say what it will do next, named first when they differ.
_SCHEDULER_FIRST = ("last_epoch",)


def live_pieces(
    *,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rng: Mapping[str, Any],
    data_generator: torch.Tensor,
    position: DataPosition,
    train_loss: torch.Tensor,
    eval_steps: tuple[int, ...],
    eval_loss: tuple[float, ...],
) -> dict[str, Any]:
    """Every piece, in the order a resume restores them: the step, the model, the optimizer's
    hyperparameters and per-parameter state, the scheduler, the generators, the data position,
    the history."""
    out: dict[str, Any] = {"step": step}
    for name, tensor in model.state_dict().items():
        out[f"model: {name}"] = tensor_piece(tensor)
    names = _parameter_names(model)
    out["optimizer: hyperparameters"] = [
        {key: _plain(value) for key, value in sorted(group.items()) if key != "params"}
        for group in optimizer.param_groups
    ]
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            name = names.get(id(parameter), "an unnamed parameter")
            for key, value in sorted(optimizer.state.get(parameter, {}).items()):
                out[f"optimizer state: {key} of {name}"] = _plain(value)
    if scheduler is not None:
        for key, value in scheduler_attributes(scheduler).items():
            out[f"scheduler state: {key}"] = value
    for name, digest in rng_digests(rng).items():
        out[f"rng.{_rng_name(name)}"] = digest
    out["rng.data"] = _digest(data_generator)
    out["data position"] = {"pass": position.pass_index, "batch": position.batch}
    out["history: train loss"] = _values(train_loss)
    out["history: eval loss"] = [[s, v] for s, v in zip(eval_steps, eval_loss, strict=True)]
    return out


def scheduler_attributes(scheduler: Any) -> dict[str, Any]:
    """The scheduler's own plain attributes (numbers, flags, lists of them), ``last_epoch``
    first: its functions and its optimizer are not state."""
    plain = {
        key: value for key, value in vars(scheduler).items()
        if key != "optimizer" and _is_plain(value)
    }  # fmt: skip
    first = [key for key in _SCHEDULER_FIRST if key in plain]
    public = sorted(key for key in plain if key not in first and not key.startswith("_"))
    private = sorted(key for key in plain if key.startswith("_"))
    return {key: _plain(plain[key]) for key in [*first, *public, *private]}


def tensor_piece(tensor: torch.Tensor) -> Any:
    dtype = str(tensor.dtype).removeprefix("torch.")
    if tensor.numel() <= EXACT_ELEMENTS:
        return {"dtype": dtype, "values": _values(tensor)}
    return {"dtype": dtype, "shape": list(tensor.shape), "sha256": _digest(tensor)}


def _parameter_names(model: torch.nn.Module) -> dict[int, str]:
    return {id(p): name for name, p in model.named_parameters()}


def _rng_name(name: str) -> str:
    return {"torch cpu": "torch", "python random": "python"}.get(name, name)


def _digest(tensor: torch.Tensor) -> str:
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return hashlib.sha256(flat.view(torch.uint8).numpy().tobytes()).hexdigest()[:16]


def _values(tensor: torch.Tensor) -> list[float]:
    values = tensor.detach().to("cpu")
    if values.is_floating_point():
        values = values.to(torch.float64)
    return values.reshape(-1).tolist()


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return tensor_piece(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON has no NaN: said as text
    return value


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    return False
