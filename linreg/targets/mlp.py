"""A tiny MLP classifier on a shuffling DataLoader: a target to copy for a tabular model.

The data are Gaussian clusters, one per class, drawn from the generator the harness passes, and
the DataLoader shuffles with that same generator: each pass over the data draws a new order, the
same one in every run of the same seed.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from linreg.target import Target, TargetData


class Mlp(Target):
    name = "mlp"
    dtypes = ("float32", "float64", "bfloat16")
    sizes = {
        "ci": {"steps": 60, "samples": 1280, "features": 16, "classes": 4, "hidden": 64,
               "batch": 64},
        "full": {"steps": 3000, "samples": 20480, "features": 32, "classes": 8, "hidden": 256,
                 "batch": 128},
    }  # fmt: skip
    eval_every = 20

    def model(self, size):
        return nn.Sequential(
            nn.Linear(size.features, size.hidden),
            nn.ReLU(),
            nn.Linear(size.hidden, size.hidden),
            nn.ReLU(),
            nn.Linear(size.hidden, size.classes),
        )

    def data(self, size, generator):
        # Centres close enough that the clusters overlap: a task with an error rate left.
        centres = 0.5 * torch.randn(size.classes, size.features, generator=generator)
        labels = torch.randint(size.classes, (size.samples,), generator=generator)
        inputs = centres[labels] + torch.randn(size.samples, size.features, generator=generator)
        split = size.samples * 4 // 5
        train = TensorDataset(inputs[:split], labels[:split])
        held_out = TensorDataset(inputs[split:], labels[split:])
        return TargetData(
            train=DataLoader(train, batch_size=size.batch, shuffle=True, generator=generator),
            eval=DataLoader(held_out, batch_size=256),
        )

    def loss(self, size):
        return nn.CrossEntropyLoss()

    def optimizer(self, params, size):
        return torch.optim.SGD(params, lr=0.05, momentum=0.9)
