"""What a target's builders give, checked and placed: the model moved to the run's device and
dtype, batches moved and cast (lists of batches once, a loader's as they come), the seeds set,
and a failure in the target's own code named by its file and line."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from linreg.errors import LinregError
from linreg.target import Size, TargetData, TargetError
from linreg.target_loading import error_summary


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)  # every CUDA device's generator too
    random.seed(seed)
    np.random.seed(seed % 2**32)


@contextlib.contextmanager
def float32_default() -> Iterator[None]:
    """Builders and steps see float32 as the default dtype, whatever the process had set."""
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


@contextlib.contextmanager
def users_code(spec: str, what: str, sources: tuple) -> Iterator[None]:
    """A failure inside the target's code, as one line naming its file and line."""
    try:
        yield
    except LinregError:
        raise
    except Exception as exc:  # the target's code: any failure is its own
        raise TargetError(spec, f"{what}: {error_summary(exc, sources)}") from None


@dataclass
class Built:
    """What the builders gave, placed on the run's device and dtype."""

    model: torch.nn.Module
    params: list[torch.nn.Parameter]
    loss_fn: Callable[[Any, Any], torch.Tensor]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train: Any  # a Placed list, or the target's iterable
    eval: Any
    place: Callable[[Any], Any]
    # The generator handed to the target's ``data``: its loaders draw their orders from it.
    generator: torch.Generator


def build(target, spec, size: Size, seed, device, dtype, sources) -> Built:
    with users_code(spec, "its model builder raised", sources):
        model = target.model(size)
    if not isinstance(model, torch.nn.Module):
        raise TargetError(spec, f"model() returned {type(model).__name__}, not a torch.nn.Module")
    # Built on the CPU in float32 under the seed, then moved: the initial parameters are the
    # same across devices and dtypes up to the cast.
    model = model.to(device=device, dtype=dtype)
    model.train()
    generator = torch.Generator().manual_seed(seed)
    with users_code(spec, "its data builder raised", sources):
        data = target.data(size, generator)
    if not isinstance(data, TargetData):
        raise TargetError(spec, f"data() returned {type(data).__name__}, not a TargetData")
    with users_code(spec, "its loss builder raised", sources):
        loss_fn = target.loss(size)
    if not callable(loss_fn):
        raise TargetError(spec, f"loss() returned {type(loss_fn).__name__}, not a callable")
    params = list(model.parameters())
    with users_code(spec, "its optimizer builder raised", sources):
        optimizer = target.optimizer(params, size)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TargetError(
            spec, f"optimizer() returned {type(optimizer).__name__}, not a torch.optim.Optimizer"
        )
    with users_code(spec, "its scheduler builder raised", sources):
        scheduler = target.scheduler(optimizer, size)
    place = _placer(device, dtype)
    return Built(
        model=model,
        params=params,
        loss_fn=loss_fn,
        optimizer=optimizer,
        scheduler=scheduler,
        # A list of batches is placed once; a loader's batches as they come.
        train=placed_once(data.train, place),
        eval=None if data.eval is None else placed_once(data.eval, place),
        place=place,
        generator=generator,
    )


def _placer(device: str, dtype: torch.dtype) -> Callable[[Any], Any]:
    """Tensors to the device, floating ones cast to the run's dtype (integer tensors, labels
    and token ids, keep theirs), through tuples, lists and dicts."""

    def place(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            if value.is_floating_point():
                return value.to(device=device, dtype=dtype)
            return value.to(device=device)
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
            return type(value)(*(place(v) for v in value))
        if isinstance(value, (list, tuple)):
            return type(value)(place(v) for v in value)
        if isinstance(value, dict):
            return {key: place(v) for key, v in value.items()}
        return value

    return place


class Placed(list):
    """Batches already on the run's device and dtype."""


def placed_once(batches: Any, place: Callable[[Any], Any]) -> Any:
    if isinstance(batches, (list, tuple)):
        return Placed(place(batch) for batch in batches)
    return batches
