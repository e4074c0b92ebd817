"""The tutorial's model, and building it from a config."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from linreg.config import TrainConfig
from linreg.numerics import torch_dtype


class LrModel(nn.Module):
    """The tutorial's linear regression: one ``nn.Linear(1, 1)`` named ``linear``."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features=1, out_features=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def build_model(config: TrainConfig, device: str | None = None) -> LrModel:
    """Seed, build on the CPU in float32 (as the tutorial does), then move to device and dtype.

    Building first and casting after keeps the initial parameters identical across devices and
    dtypes up to the cast, so runs differ only in how they train.
    """
    # fork_rng: the seed is the run's, the global generator's state is the caller's.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = LrModel()
    return model.to(device=device or config.device, dtype=torch_dtype(config.dtype))


def model_from_state(state: Mapping[str, torch.Tensor]) -> LrModel:
    """An LrModel holding ``state``, in the state's dtype, on the CPU."""
    model = LrModel().to(dtype=state["linear.weight"].dtype)
    model.load_state_dict(state)
    return model


def make_loss_fn(config: TrainConfig) -> nn.Module:
    return {"l1": nn.L1Loss, "mse": nn.MSELoss}[config.loss]()


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The tutorial's ``SGD(lr=0.01)`` by default; SGD with the config's momentum, or Adam with
    the config's lr and torch's default betas and eps."""
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    if config.momentum:
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    return torch.optim.SGD(model.parameters(), lr=config.lr)


def predict(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.inference_mode():
        return model(X)
