"""Target files the target tests write into tmp_path: a user's target, and broken ones."""

from __future__ import annotations

import textwrap
from pathlib import Path

# A user's target in about twenty lines, as the README shows one.
USER_TARGET = """
import torch
from torch import nn

import linreg


class Net(linreg.Target):
    dtypes = ("float32", "float64")
    sizes = {"ci": {"steps": 30, "hidden": 16}, "full": {"steps": 500, "hidden": 64}}
    eval_every = 10

    def model(self, size):
        return nn.Sequential(nn.Linear(3, size.hidden), nn.ReLU(), nn.Linear(size.hidden, 1))

    def data(self, size, generator):
        x = torch.randn(256, 3, generator=generator)
        y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x[:200], y[:200]), batch_size=20, shuffle=True,
            generator=generator)
        return linreg.TargetData(train=loader, eval=[(x[200:], y[200:])])

    def loss(self, size):
        return nn.MSELoss()

    def optimizer(self, params, size):
        return torch.optim.Adam(params, lr=1e-2)
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def variant(old: str, new: str) -> str:
    """The user's target with one piece of it changed."""
    assert old in USER_TARGET, old
    return USER_TARGET.replace(old, new)
