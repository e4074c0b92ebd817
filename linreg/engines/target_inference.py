"""A target's model in inference: its forward over the eval batches in eval mode under
``inference_mode``, what the bench suite's ``target_inference`` case times and counts.

The model is built as a run builds it (on the CPU in float32 under the run's seed, then moved and
cast), its weights as initialised: a forward's cost does not depend on their values. The
batches are placed on the device before the call, so the call is the forward alone.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from linreg.engines.target_build import build, float32_default, seed_everything
from linreg.numerics import numeric_settings, resolve, synchronize, torch_dtype
from linreg.target import Target, TargetError
from linreg.target_config import TargetConfig
from linreg.target_loading import check_runs_here, source_files


def inference_call(config: TargetConfig, target: Target) -> tuple[Callable[[], object], int]:
    """(the forward over the eval batches, the samples it sees); the train batches where the
    target has no eval batches. The call borrows the run's numeric settings for its duration."""
    check_runs_here(target, config)
    steps = config.steps or target.sizes[config.size]["steps"]
    config = resolve(config).replace(steps=steps)
    spec = config.target.spec
    size = target.size(config.size, steps)
    device, dtype = config.device, torch_dtype(config.dtype)
    with numeric_settings(config), float32_default():  # type: ignore[arg-type]
        seed_everything(config.seed)
        built = build(target, spec, size, config.seed, device, dtype, source_files(type(target)))
        source = built.eval if built.eval is not None else built.train
        batches = [built.place(batch) for batch in source]
    if not batches:
        raise TargetError(spec, "has no eval or train batches to run inference on")
    inputs = [batch[0] for batch in batches]
    samples = sum(_count(batch[1]) for batch in batches)
    model = built.model
    model.eval()

    def forward() -> object:
        with numeric_settings(config), float32_default(), torch.inference_mode():  # type: ignore[arg-type]
            out = [target.forward(model, x) for x in inputs]
        synchronize(device)
        return out

    return forward, samples


def _count(targets: object) -> int:
    return int(targets.shape[0]) if isinstance(targets, torch.Tensor) and targets.dim() else 1
