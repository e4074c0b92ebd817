"""The tutorial's data set: a straight line, split 80/20 without shuffling."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from linreg.config import TrainConfig
from linreg.numerics import torch_dtype


@dataclass(frozen=True)
class Dataset:
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor


def make_dataset(config: TrainConfig, device: str | None = None) -> Dataset:
    """Build X and y exactly as the tutorial does, then move them to the run's device and dtype.

    The line is always computed in float32, as the tutorial computes it, and then cast: every dtype
    is trained on the same points, so a difference between dtypes is a difference in arithmetic,
    not in data.
    """
    if config.samples is None:
        X = torch.arange(config.start, config.stop, config.step).unsqueeze(1)
    else:
        spacing = (config.stop - config.start) / config.samples
        X = (torch.arange(config.samples, dtype=torch.float32) * spacing + config.start).unsqueeze(
            1
        )
    y = config.weight * X + config.bias
    train_split = int(config.train_fraction * len(X))
    dtype = torch_dtype(config.dtype)
    target = device or config.device

    def place(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=target, dtype=dtype)

    return Dataset(
        X_train=place(X[:train_split]),
        y_train=place(y[:train_split]),
        X_test=place(X[train_split:]),
        y_test=place(y[train_split:]),
    )
