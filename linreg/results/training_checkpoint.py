"""Training checkpoints: everything a resumed run needs, in one torch file.

Beside model.pth (a plain state_dict, for the tutorial's own loading code), a training checkpoint
is a dict of tensors and plain values in torch.save's format: its kind and schema version, the
torch that wrote it, the config, the epoch reached, the model's and the optimizer's state_dicts,
the random generators, the history so far and the parameters before training. It is written
through the one atomic writer, never over an existing file, and read back with
``weights_only=True`` (nothing in the file is run), then checked part by part, so that a damaged
or foreign file is refused by name rather than failing inside torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from linreg.config import TrainConfig
from linreg.engines.records import eval_epochs
from linreg.errors import CheckpointError
from linreg.model import LrModel, make_optimizer
from linreg.numerics import torch_dtype
from linreg.results.checkpoint import (
    check_fits,
    checked_training_state,
    load_torch_file,
    state_dict_of,
    torch_bytes,
)
from linreg.results.files import write_file
from linreg.results.kinds import TRAINING_CHECKPOINT
from linreg.training_state import TrainingState, check_rng, config_mismatch

SCHEMA_VERSION = 1
_PARAMETERS = ("linear.weight", "linear.bias")


def save_training_checkpoint(state: TrainingState, path: str | Path) -> Path:
    """Write ``state`` to ``path``; an existing file is refused (results only grow)."""
    payload = {
        "kind": TRAINING_CHECKPOINT,
        "schema_version": SCHEMA_VERSION,
        "torch": str(torch.__version__),  # a str subclass weights_only would refuse
        "config": state.config.to_dict(),
        "epoch": state.epoch,
        "model": state.model,
        "optimizer": state.optimizer,
        "rng": state.rng,
        "history": {"train_loss": state.train_loss, "test_loss": state.test_loss},
        "initial_state": state.initial_state,
        "train_seconds": state.train_seconds,
    }
    data = torch_bytes(payload)
    return write_file(path, lambda handle: handle.write(data), replace=False)


def load_training_checkpoint(path: str | Path) -> TrainingState:
    """Read a training checkpoint written by this torch; refuse anything else, naming the file
    and what is wrong with it."""
    path = Path(path)
    data = load_torch_file(path)
    if not isinstance(data, Mapping) or data.get("kind") != TRAINING_CHECKPOINT:
        if (
            isinstance(data, Mapping)
            and set(data) == set(_PARAMETERS)
            and all(isinstance(v, torch.Tensor) for v in data.values())
        ):
            raise CheckpointError(
                f"{path}: a model state_dict (model.pth), not a training checkpoint; "
                "write one with linreg train --stop-at EPOCH"
            )
        raise CheckpointError(f"{path}: not a linreg training checkpoint")
    return checked_training_state(
        path, data, "training checkpoint", SCHEMA_VERSION, _state, lambda state: state.epoch
    )


def check_resumes(state: TrainingState, config: TrainConfig, path: str | Path) -> None:
    """Refuse a checkpoint of another config than ``config`` (resolved), naming the fields."""
    mismatch = config_mismatch(state.config, config)
    if mismatch:
        raise CheckpointError(
            f"{path}: a checkpoint of another config ({mismatch}); resume with the options "
            "it was written with"
        )


def _state(path: Path, data: Mapping[str, Any]) -> TrainingState:
    config = TrainConfig.from_dict(dict(data["config"]))
    dtype = torch_dtype(config.dtype)
    epoch = data["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= config.epochs:
        raise ValueError(f"epoch {epoch!r} is not in [0, {config.epochs}]")
    model = state_dict_of(path, data["model"])
    check_fits(model, LrModel(), path)
    for name, tensor in model.items():
        if tensor.dtype != dtype:
            raise ValueError(f"{name} is {tensor.dtype}, the config says {config.dtype}")
        _finite(name, tensor)
    optimizer = data["optimizer"]
    _check_optimizer(config, optimizer)
    rng = _rng(data["rng"])
    history = data["history"]
    train_loss, test_loss = history["train_loss"], history["test_loss"]
    evaluated = len([e for e in eval_epochs(config) if e < epoch])
    for name, tensor, length in (("train", train_loss, epoch), ("test", test_loss, evaluated)):
        if not isinstance(tensor, torch.Tensor) or tensor.dtype != dtype:
            raise ValueError(f"the {name} loss history is not a {config.dtype} tensor")
        if tuple(tensor.shape) != (length,):
            raise ValueError(f"the {name} loss history holds {tensor.numel()} losses, not {length}")
        _finite(f"the {name} loss history", tensor)
    initial_state = data["initial_state"]
    if not isinstance(initial_state, dict) or set(initial_state) != set(_PARAMETERS):
        raise ValueError("initial_state must hold linear.weight and linear.bias")
    for name, entry in initial_state.items():
        values = entry["values"]
        if not isinstance(values, list) or not all(_is_finite_number(v) for v in values):
            raise ValueError(f"the initial {name} must be a list of finite numbers")
    seconds = data["train_seconds"]
    if not _is_finite_number(seconds) or seconds < 0:
        raise ValueError(f"train_seconds {seconds!r} is not a number >= 0")
    return TrainingState(
        config=config,
        epoch=epoch,
        model=model,
        optimizer=optimizer,
        rng=rng,
        train_loss=train_loss,
        test_loss=test_loss,
        initial_state=initial_state,
        train_seconds=float(seconds),
    )


def _check_optimizer(config: TrainConfig, optimizer: Any) -> None:
    """The optimizer's state_dict must be what the config's optimizer makes of LrModel: the
    same hyperparameters (a file's lr would otherwise replace the config's), state it accepts."""
    if not isinstance(optimizer, dict) or set(optimizer) != {"state", "param_groups"}:
        raise ValueError("the optimizer entry is not a torch.optim state_dict")
    fresh = make_optimizer(config, LrModel().to(torch_dtype(config.dtype)))
    want = _hyperparameters(fresh.state_dict()["param_groups"])
    got = _hyperparameters(optimizer["param_groups"])
    if len(got) != len(want):
        raise ValueError(f"the optimizer has {len(got)} parameter groups, not {len(want)}")
    for have, need in zip(got, want, strict=True):
        differing = [f"{k} {have.get(k)!r}, the config's {need.get(k)!r}"
                     for k in {**need, **have} if have.get(k) != need.get(k)]  # fmt: skip
        if differing:
            raise ValueError(f"the optimizer's {'; '.join(differing)}")
    fresh.load_state_dict(optimizer)  # raises ValueError where the groups do not fit
    shapes = [tuple(p.shape) for p in LrModel().parameters()]
    for index, per_parameter in optimizer["state"].items():
        for key, value in per_parameter.items():
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"optimizer state {key} of parameter {index} is not a tensor")
            if key != "step" and tuple(value.shape) != shapes[index]:
                raise ValueError(
                    f"optimizer state {key} of parameter {index} has shape "
                    f"{tuple(value.shape)}, the parameter {shapes[index]}"
                )
            _finite(f"optimizer state {key} of parameter {index}", value)


def _hyperparameters(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in group.items() if k != "params"} for group in groups]


def _rng(rng: Any) -> dict[str, Any]:
    # Each generator's state is tried on a throwaway generator here, where a damaged one is a
    # refused file, rather than when the resumed loop sets the process's own.
    check_rng(rng)
    cuda = rng.get("cuda")
    if cuda is None:
        return dict(rng)
    if not torch.cuda.is_available():
        # Written where CUDA was present, resumed where it is not: no CUDA generator to set.
        return {k: v for k, v in rng.items() if k != "cuda"}
    if len(cuda) != torch.cuda.device_count():
        raise ValueError(
            f"it holds {len(cuda)} CUDA generator states, this machine has "
            f"{torch.cuda.device_count()} CUDA devices"
        )
    for index, state in enumerate(cuda):
        size = torch.cuda.get_rng_state(index).numel()
        if state.numel() != size:
            raise ValueError(
                f"the cuda:{index} generator's state holds {state.numel()} bytes, not {size}"
            )
    return dict(rng)


def _finite(name: str, tensor: torch.Tensor) -> None:
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} holds non-finite values")


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
