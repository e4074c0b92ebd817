"""The commented starting file `linreg target new NAME` writes: a working target (a small
regression network on data it makes) for a user to change into their own."""

from __future__ import annotations

import keyword
import re

from linreg.target import TargetError

_TEMPLATE = '''"""{name}: a linreg target. Train it with

    linreg train --target {file}:{cls} --size ci      # small: seconds, for tests
    linreg train --target {file}:{cls}                # its full size
    linreg target check {file}:{cls}                  # what it supports, checked

linreg owns the training step (zero_grad, forward, loss, backward, clip, step, scheduler), the
seeds and every random generator; this file only says what to train.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import linreg


class {cls}(linreg.Target):
    # What the target runs on; `linreg train` refuses anything else with one line.
    devices = ("cpu", "cuda")
    dtypes = ("float32", "float64")  # float64 is the reference the others are judged against
    engines = ("eager", "compiled")
    # Knobs your builders read as size.NAME; "steps" is required, and so is a "ci" size
    # small enough for a test suite.
    sizes = {{
        "ci": {{"steps": 50, "samples": 512, "hidden": 32, "batch": 32}},
        "full": {{"steps": 2000, "samples": 8192, "hidden": 128, "batch": 64}},
    }}
    eval_every = 25  # steps between evaluations (and after the last step)
    clip_grad_norm = None  # a number: linreg clips the gradients' norm to it
    # tolerances = {{"float32": (1e-5, 1e-6)}}  # (rtol, atol) where linreg's defaults do not fit
    # nondeterministic = ("atomic adds in ...",)  # known nondeterminism, in words

    def model(self, size):
        # Built on the CPU in float32 under the run's seed; linreg moves and casts it.
        return nn.Sequential(nn.Linear(4, size.hidden), nn.Tanh(), nn.Linear(size.hidden, 1))

    def data(self, size, generator):
        # Draw everything random from `generator` (seeded from the run's seed), the
        # DataLoader's shuffling too. linreg casts floating tensors to the run's dtype.
        x = torch.randn(size.samples, 4, generator=generator)
        y = x.sin().sum(dim=1, keepdim=True)
        split = size.samples * 4 // 5
        train = DataLoader(TensorDataset(x[:split], y[:split]), batch_size=size.batch,
                           shuffle=True, generator=generator)
        return linreg.TargetData(train=train, eval=[(x[split:], y[split:])])

    def loss(self, size):
        return nn.MSELoss()  # must return a scalar tensor

    def optimizer(self, params, size):
        return torch.optim.Adam(params, lr=1e-2)

    # Optional:
    # def scheduler(self, optimizer, size):
    #     return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, size.steps)
    # def forward(self, model, inputs):  # for models that take more than one input
    #     return model(*inputs)
'''


def class_name(name: str) -> str:
    """``my_model`` → ``MyModel``; TargetError where no class can be named after it."""
    parts = [part for part in re.split(r"[^0-9A-Za-z]+", name) if part]
    candidate = "".join(part[:1].upper() + part[1:] for part in parts)
    if not candidate.isidentifier() or keyword.iskeyword(candidate):
        raise TargetError(name, "name the target with letters, digits and _ (e.g. my_model)")
    return candidate


def starting_target(name: str, file: str) -> str:
    """The text of a starting target called ``name``, written to ``file``."""
    return _TEMPLATE.format(name=name, cls=class_name(name), file=file)
