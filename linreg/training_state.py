"""Everything a resumed run needs, taken from a run stopped at an epoch, and its pieces by name.

A run is resumable from a ``TrainingState``: the model's and the optimizer's state_dicts, the
random generators (torch's CPU one, CUDA's where CUDA is present, Python's ``random``, NumPy's),
the epoch reached, and the history so far. ``pieces`` names each part with a JSON value, so that
what a resumed process restored can be set beside what the stopped run had, piece by piece
(``linreg.compare.resume``).

The tutorial's training draws no random numbers after the model is built (build_model seeds a
generator of its own), so the generators matter to a resumed run only once something draws from
them; they are kept, and checked, so that nothing has to be remembered when that day comes.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from linreg.config import TrainConfig
from linreg.model import LrModel
from linreg.run import Resumption
from linreg.state import state_to_json


@dataclass(frozen=True)
class TrainingState:
    """A run of ``config`` after ``epoch`` epochs (0 … epoch − 1 done), every tensor on the CPU."""

    config: TrainConfig  # resolved: a concrete device
    epoch: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]  # torch.optim's state_dict
    rng: dict[str, Any]  # see capture_rng
    train_loss: torch.Tensor  # (epoch,): every epoch's loss so far, in the run's dtype
    test_loss: torch.Tensor  # the test loss of each evaluated epoch so far
    initial_state: dict[str, Any]  # the parameters before training, as a Run records them
    train_seconds: float  # the loop's time so far
    # The checkpoint file it was read from; None for a state taken in this process.
    source: Resumption | None = field(default=None, compare=False)


def cpu_copy(value: Any) -> Any:
    """``value`` with every tensor in it copied to the CPU: a state_dict holds the live tensors,
    which the next step changes in place."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, Mapping):
        return {key: cpu_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(cpu_copy(item) for item in value)
    return value


# --- random generators ------------------------------------------------------------------------


def capture_rng() -> dict[str, Any]:
    """The process's generators as tensors, ints and floats (what torch.load reads back with
    weights_only=True): torch's CPU generator, each CUDA device's where CUDA is present,
    Python's ``random``, NumPy's global one."""
    version, internal, gauss_next = random.getstate()
    algorithm, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    rng: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": {
            "version": version,
            "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
        "numpy": {
            "algorithm": algorithm,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
    }
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def check_rng(rng: Mapping[str, Any]) -> None:
    """ValueError naming the first generator state that could not be restored. Each is set on
    a throwaway generator of its kind first, so that a damaged one (a torch state of 7 bytes, a
    Python state of the wrong length) is refused before any of the process's own is touched."""
    if not isinstance(rng, Mapping):
        raise ValueError("the random generators' entry is not a dict")
    for name, check in (("torch", _check_torch), ("python", _check_python),
                        ("numpy", _check_numpy)):  # fmt: skip
        if name not in rng:
            raise ValueError(f"the {name} generator's state is missing")
        check(rng[name])
    cuda = rng.get("cuda")
    if cuda is not None:
        if not isinstance(cuda, (list, tuple)):
            raise ValueError("the CUDA generators' states are not a list")
        for index, state in enumerate(cuda):
            if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8 or state.ndim != 1:
                raise ValueError(f"the cuda:{index} generator's state is not a uint8 vector")


def _check_torch(state: Any) -> None:
    if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8 or state.ndim != 1:
        raise ValueError("the torch generator's state is not a uint8 vector")
    try:
        torch.Generator().set_state(state)
    except RuntimeError as exc:
        raise ValueError(f"the torch generator's state does not restore "
                         f"({str(exc).splitlines()[0][:120]})") from None  # fmt: skip


def _check_python(state: Any) -> None:
    if not isinstance(state, Mapping) or set(state) != {"version", "internal", "gauss_next"}:
        raise ValueError("the python generator's state is not version, internal, gauss_next")
    internal = state["internal"]
    if not isinstance(internal, torch.Tensor) or internal.ndim != 1 or internal.is_floating_point():
        raise ValueError("the python generator's state is not a vector of integers")
    try:
        random.Random().setstate((state["version"], tuple(internal.tolist()), state["gauss_next"]))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"the python generator's state does not restore ({exc})") from None


_NUMPY_KEYS = 624  # MT19937's state words


def _check_numpy(state: Any) -> None:
    fields = {"algorithm", "keys", "position", "has_gauss", "cached_gaussian"}
    if not isinstance(state, Mapping) or set(state) != fields:
        raise ValueError(f"the numpy generator's state is not {', '.join(sorted(fields))}")
    keys = state["keys"]
    if (
        state["algorithm"] != "MT19937"
        or not isinstance(keys, torch.Tensor)
        or tuple(keys.shape) != (_NUMPY_KEYS,)
        or keys.is_floating_point()
        or bool(((keys < 0) | (keys > 0xFFFFFFFF)).any())
    ):
        raise ValueError(f"the numpy generator's state is not MT19937's {_NUMPY_KEYS} words")
    # NumPy takes a position past the words without a word of complaint.
    position = state["position"]
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 624:
        raise ValueError(f"the numpy generator's position {position!r} is not in [0, 624]")
    try:
        np.random.RandomState().set_state(_numpy_tuple(state))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"the numpy generator's state does not restore ({exc})") from None


def _numpy_tuple(numpy: Mapping[str, Any]) -> tuple:
    return (
        numpy["algorithm"],
        numpy["keys"].numpy().astype(np.uint32),
        numpy["position"],
        numpy["has_gauss"],
        numpy["cached_gaussian"],
    )


def set_rng(rng: Mapping[str, Any]) -> None:
    """Set the process's generators to ``rng`` (as capture_rng gives them): all of them, or,
    where one could not be restored (``check_rng``), none."""
    check_rng(rng)
    torch.set_rng_state(rng["torch"])
    python = rng["python"]
    random.setstate((python["version"], tuple(python["internal"].tolist()), python["gauss_next"]))
    np.random.set_state(_numpy_tuple(rng["numpy"]))
    if "cuda" in rng:
        torch.cuda.set_rng_state_all(rng["cuda"])


@contextlib.contextmanager
def borrowed_rng(rng: Mapping[str, Any] | None) -> Iterator[None]:
    """The generators set to ``rng`` inside the block, the process's own given back after it;
    None leaves them alone (a run that starts from scratch draws from the process's)."""
    if rng is None:
        yield
        return
    saved = capture_rng()
    set_rng(rng)
    try:
        yield
    finally:
        set_rng(saved)


# --- pieces -----------------------------------------------------------------------------------


def pieces(state: TrainingState) -> dict[str, Any]:
    """Each part of the state under a readable name, with a JSON value: exact numbers where they
    are few (parameters, optimizer moments, step counts), a sha256 where they are many (the
    generators)."""
    # The optimizer numbers its parameters in the model's order.
    parameter_names = [name for name, _ in LrModel().named_parameters()]
    out: dict[str, Any] = {"epoch": state.epoch}
    for name, entry in state_to_json(state.model).items():
        out[f"model: {name}"] = entry
    groups = state.optimizer.get("param_groups", [])
    out["optimizer: hyperparameters"] = [
        {key: _plain(value) for key, value in group.items() if key != "params"} for group in groups
    ]
    for index, per_parameter in sorted(state.optimizer.get("state", {}).items()):
        name = parameter_names[index] if index < len(parameter_names) else f"parameter {index}"
        for key, value in sorted(per_parameter.items()):
            out[f"optimizer state: {key} of {name}"] = _plain(value)
    for name, digest in rng_digests(state.rng).items():
        out[f"random generator: {name}"] = digest
    out["history: train loss"] = _values(state.train_loss)
    out["history: test loss"] = _values(state.test_loss)
    out["initial parameters"] = state.initial_state
    return out


def rng_digests(rng: Mapping[str, Any]) -> dict[str, str]:
    """A sha256 per generator: their states are thousands of numbers."""
    python, numpy = rng["python"], rng["numpy"]
    out = {
        "torch cpu": _digest(rng["torch"]),
        "python random": _digest(python["internal"], python["version"], python["gauss_next"]),
        "numpy": _digest(numpy["keys"], numpy["algorithm"], numpy["position"],
                         numpy["has_gauss"], numpy["cached_gaussian"]),
    }  # fmt: skip
    for index, cuda in enumerate(rng.get("cuda", [])):
        out[f"cuda:{index}"] = _digest(cuda)
    return out


def _digest(tensor: torch.Tensor, *extra: Any) -> str:
    digest = hashlib.sha256(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(repr(extra).encode())
    return digest.hexdigest()[:16]


def _values(tensor: torch.Tensor) -> list[float]:
    return tensor.detach().to("cpu", torch.float64).reshape(-1).tolist()


def _plain(value: Any) -> Any:
    """An optimizer's value as JSON: a tensor as its dtype and exact values."""
    if isinstance(value, torch.Tensor):
        return {"dtype": str(value.dtype).removeprefix("torch."), "values": _values(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def config_mismatch(stored: TrainConfig, asked: TrainConfig) -> str | None:
    """The fields in which a run's config differs from the one a state was taken from, in words
    ('lr 0.1 here, 0.01 in the checkpoint'); None when they are the same."""
    was, now = stored.to_dict(), asked.to_dict()
    differing = [f"{name} {now[name]!r} here, {was[name]!r} in the checkpoint" for name in was
                 if was[name] != now[name]]  # fmt: skip
    return "; ".join(differing) or None
