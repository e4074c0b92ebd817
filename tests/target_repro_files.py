"""Targets the reproduction tests plant faults in: a small regression to which one piece is
added that breaks the contract, written into tmp_path."""

from __future__ import annotations

# A few steps of a small regression: cheap enough to train many times.
SMALL = """
import random
import torch
from torch import nn
import linreg

_UNSEEDED = random.Random()  # seeded from the operating system, not from the run's seed
{extra}

class Small(linreg.Target):
    dtypes = ("float32", "float64")
    sizes = {{"ci": {{"steps": 8}}}}
    eval_every = 4
{declarations}
    def model(self, size):
        return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))

    def data(self, size, generator):
        x = torch.randn(64, 3, generator=generator)
        y = x.sum(1, keepdim=True)
        return linreg.TargetData(train=[(x[:48], y[:48])], eval=[(x[48:], y[48:])])

    def loss(self, size):
        return nn.MSELoss()

    def optimizer(self, params, size):
        return torch.optim.SGD(params, lr=0.05)
{methods}"""

# Its forward adds noise from a source the harness does not seed: two runs part at step 0.
NOISY_FORWARD = """
    def forward(self, model, inputs):
        return model(inputs) + 1e-3 * _UNSEEDED.random()
"""

# Its scheduler saves nothing of where it stands: a resumed run starts the schedule again.
FORGETFUL_SCHEDULER_CLASS = """
class ForgetfulStepLR(torch.optim.lr_scheduler.StepLR):
    def state_dict(self):
        return {}

    def load_state_dict(self, state_dict):
        pass
"""
FORGETFUL_SCHEDULER = """
    def scheduler(self, optimizer, size):
        return ForgetfulStepLR(optimizer, step_size=3, gamma=0.5)
"""
STEP_SCHEDULER = """
    def scheduler(self, optimizer, size):
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
"""


def small_target(extra: str = "", declarations: str = "", methods: str = "") -> str:
    return SMALL.format(extra=extra, declarations=declarations, methods=methods)


NOISY = small_target(methods=NOISY_FORWARD)
NOISY_DECLARED = small_target(
    declarations='    nondeterministic = ("its forward adds unseeded noise",)\n',
    methods=NOISY_FORWARD,
)
FORGETFUL = small_target(extra=FORGETFUL_SCHEDULER_CLASS, methods=FORGETFUL_SCHEDULER)
STEPPED = small_target(methods=STEP_SCHEDULER)
