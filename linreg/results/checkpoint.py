"""Checkpoints: a plain state_dict written by torch.save, read back only with weights_only=True."""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from linreg.errors import CheckpointError, ConfigError, ResultSetError
from linreg.model import LrModel
from linreg.numerics import TORCH_DTYPES
from linreg.results.files import check_regular_file, file_sha256, write_file
from linreg.results.kinds import TRAINING_CHECKPOINT
from linreg.run import Resumption

S = TypeVar("S")


def save_checkpoint(state: Mapping[str, torch.Tensor], path: str | Path) -> Path:
    """Write ``state`` (moved to the CPU) so that the tutorial's own loading code reads it."""
    cpu_state = {name: tensor.detach().to("cpu") for name, tensor in state.items()}
    data = torch_bytes(cpu_state)
    return write_file(path, lambda handle: handle.write(data), replace=True)


def torch_bytes(value: object) -> bytes:
    """torch.save's bytes of ``value``, made in memory. torch.save into a file object writes
    through that object from C++ and, when stopped part-way (a Ctrl-C, a full disk), leaves a
    writer whose destructor writes again later: into a file closed by then, that aborts the
    process. A buffer in memory stays writable for as long as the writer lives."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict; refuse anything that is not one, naming the file and the problem."""
    path = Path(path)
    return state_dict_of(path, load_torch_file(path))


def load_torch_file(path: Path) -> object:
    """What torch.load reads from ``path`` with weights_only=True (tensors, containers and plain
    values only: nothing is run while loading), or CheckpointError naming the problem."""
    try:
        check_regular_file(path)
    except ResultSetError as exc:
        raise CheckpointError(str(exc)) from None
    with path.open("rb") as handle:
        magic = handle.read(4)
    if not magic:
        raise CheckpointError(f"{path}: empty file, not a torch checkpoint")
    # torch.save writes a zip archive; files of torch < 1.6 are a bare pickle (protocol byte 0x80).
    if magic[:2] != b"PK" and magic[:1] != b"\x80":
        raise CheckpointError(f"{path}: not a torch checkpoint")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol warnings; we report below
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (
        RuntimeError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        EOFError,
        ValueError,
        OSError,
        AttributeError,
        KeyError,
        ImportError,
        IndexError,
    ) as exc:
        raise CheckpointError(f"{path}: {_load_failure(exc)}") from exc
    return loaded


def state_dict_of(path: Path, state: object) -> dict[str, torch.Tensor]:
    """``state`` as a state_dict of dense tensors, or CheckpointError naming what it is."""
    if isinstance(state, Mapping) and state.get("kind") == TRAINING_CHECKPOINT:
        raise CheckpointError(
            f"{path}: a training checkpoint (linreg train --stop-at), not a model state_dict; "
            "finish its run with linreg train --resume-from"
        )
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{path}: not a state_dict (expected a mapping of names to tensors)")
    for name, tensor in state.items():
        # A sparse or meta tensor loads, then fails deep inside torch when used: refuse it here.
        if tensor.layout != torch.strided or tensor.is_meta:
            kind = "a meta tensor (no data)" if tensor.is_meta else f"{tensor.layout} tensor"
            raise CheckpointError(f"{path}: {name} is {kind}; expected a dense tensor")
    return dict(state)


def _load_failure(exc: BaseException) -> str:
    text = str(exc)
    if "Weights only load failed" in text:
        return "holds objects other than tensors (refused: linreg loads with weights_only=True)"
    if "central directory" in text or "zip archive" in text or isinstance(exc, EOFError):
        return "truncated or corrupt torch checkpoint"
    return "not a torch checkpoint"


def check_fits(state: Mapping[str, torch.Tensor], model: nn.Module, path: str | Path) -> None:
    """Refuse a state_dict whose names or shapes differ from the model's."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: keys do not match LrModel (missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(unexpected) or 'none'})"
        )
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{path}: {name} has shape {tuple(state[name].shape)}, "
                f"LrModel expects {tuple(tensor.shape)}"
            )


def load_model(path: str | Path, device: str = "cpu") -> LrModel:
    """An LrModel with the checkpoint's parameters, in the checkpoint's dtype."""
    state = load_checkpoint(path)
    model = LrModel()
    check_fits(state, model, path)
    dtype = state["linear.weight"].dtype
    if dtype not in TORCH_DTYPES.values() or state["linear.bias"].dtype != dtype:
        raise CheckpointError(
            f"{path}: parameters are {dtype} and {state['linear.bias'].dtype}; "
            f"expected one of {', '.join(TORCH_DTYPES)} for both"
        )
    for name, tensor in state.items():
        if not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: {name} holds non-finite values ({tensor.tolist()})")
    model = model.to(dtype=dtype)
    model.load_state_dict(state)
    return model.to(device)


def checked_training_state(
    path: Path,
    data: Mapping[str, Any],
    what: str,
    schema_version: int,
    build: Callable[[Path, Mapping[str, Any]], S],
    position: Callable[[S], int],
) -> S:
    """The training state a checkpoint of kind ``what`` holds, built by ``build``, with where it
    came from (file, digest, the epoch or step it stopped at); refused, naming the file, where
    its schema or torch is another or a piece is malformed. The tutorial's and a target's
    checkpoints share this: only their pieces differ."""
    if data.get("schema_version") != schema_version:
        raise CheckpointError(
            f"{path}: {what} schema_version {data.get('schema_version')!r}; this "
            f"linreg reads {schema_version}"
        )
    if data.get("torch") != torch.__version__:
        raise CheckpointError(
            f"{path}: written by torch {data.get('torch')}, this is torch {torch.__version__}; "
            "a resumed run must not mix two stacks"
        )
    try:
        state = build(path, data)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: malformed {what} (config: {exc})") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as exc:
        reason = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise CheckpointError(f"{path}: malformed {what} ({reason[:200]})") from None
    try:
        digest = file_sha256(path)
    except ResultSetError as exc:
        raise CheckpointError(str(exc)) from None
    source = Resumption(os.path.abspath(path), digest, position(state))
    return dataclasses.replace(state, source=source)
