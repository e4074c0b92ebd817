"""A small CNN with BatchNorm and Dropout: a target to copy for an image model.

The images are 12×12 strokes (horizontal, vertical, and the two diagonals, one class each) at
random places under noise, drawn from the harness's generator. BatchNorm's running statistics are
buffers: they are part of the run's state and of its hash. Dropout draws from torch's generator,
which the harness seeds from the run's seed, so two runs of one seed drop the same units.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from linreg.target import Target, TargetData

CLASSES = 4


def strokes(count: int, side: int, noise: float, generator: torch.Generator):
    """``count`` images of one stroke each and their class (0 horizontal, 1 vertical, 2 and 3
    the diagonals)."""
    labels = torch.randint(CLASSES, (count,), generator=generator)
    offsets = torch.randint(side, (count,), generator=generator)
    rows = torch.arange(side).view(1, side, 1)
    cols = torch.arange(side).view(1, 1, side)
    at = offsets.view(count, 1, 1)
    kind = labels.view(count, 1, 1)
    lit = torch.where(kind == 0, rows == at, cols == at)
    lit = torch.where(kind == 2, (rows - cols) % side == at, lit)
    lit = torch.where(kind == 3, (rows + cols) % side == at, lit)
    images = lit.float() + noise * torch.randn(count, side, side, generator=generator)
    return images.unsqueeze(1), labels


class Cnn(Target):
    name = "cnn"
    dtypes = ("float32", "float64")
    sizes = {
        "ci": {"steps": 40, "samples": 640, "side": 12, "width": 8, "batch": 32},
        "full": {"steps": 1500, "samples": 12800, "side": 12, "width": 16, "batch": 64},
    }
    eval_every = 20

    def model(self, size):
        width = size.width
        features = 2 * width * (size.side // 4) ** 2
        return nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(features, CLASSES),
        )

    def data(self, size, generator):
        images, labels = strokes(size.samples, size.side, 0.5, generator)
        split = size.samples * 4 // 5
        train = TensorDataset(images[:split], labels[:split])
        held_out = TensorDataset(images[split:], labels[split:])
        return TargetData(
            train=DataLoader(train, batch_size=size.batch, shuffle=True, generator=generator),
            eval=DataLoader(held_out, batch_size=128),
        )

    def loss(self, size):
        return nn.CrossEntropyLoss()

    def optimizer(self, params, size):
        return torch.optim.SGD(params, lr=0.05, momentum=0.9)

    def scheduler(self, optimizer, size):
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, size.steps // 3))
