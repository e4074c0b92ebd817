"""SGD with momentum and Adam: the eager engine against a plain tutorial-style loop with that
optimizer, bit for bit; the engines that step plain SGD in closed form refuse them by name."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from linreg.config import TrainConfig
from linreg.engines import train
from linreg.engines.support import unsupported
from linreg.errors import ConfigError


def tutorial_loop(seed: int, make_optimizer):
    """The tutorial's code with another optimizer, as a user would write it."""
    weight, bias = 0.8, 0.2
    X = torch.arange(0, 1, 0.02).unsqueeze(1)
    y = weight * X + bias
    train_split = int(0.8 * len(X))
    X_train, y_train = X[:train_split], y[:train_split]
    X_test, y_test = X[train_split:], y[train_split:]

    class LrModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(in_features=1, out_features=1)

        def forward(self, x):
            return self.linear(x)

    torch.manual_seed(seed)
    model = LrModel()
    loss_fn = nn.L1Loss()
    optimizer = make_optimizer(model.parameters())
    train_losses, test_losses = [], []
    for epoch in range(500):
        model.train()
        y_pred = model(X_train)
        loss = loss_fn(y_pred, y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        train_losses.append(loss.item())
        if epoch % 50 == 0:
            model.eval()
            with torch.inference_mode():
                test_losses.append(loss_fn(model(X_test), y_test).item())
    return train_losses, test_losses, model.state_dict()


OPTIMIZERS = {
    "sgd momentum 0.9": (
        {"momentum": 0.9},
        lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9),
    ),
    "adam": ({"optimizer": "adam"}, lambda params: torch.optim.Adam(params, lr=0.01)),
}


@pytest.mark.parametrize("seed", [42, 3])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_eager_matches_a_plain_loop_with_the_same_optimizer_bit_for_bit(name, seed):
    changes, make_optimizer = OPTIMIZERS[name]
    train_losses, test_losses, final = tutorial_loop(seed, make_optimizer)
    run = train(TrainConfig(seed=seed, **changes))
    assert run.history.train_loss == tuple(train_losses)
    assert run.history.test_loss == tuple(test_losses)
    assert run.final_weight == final["linear.weight"].item()
    assert run.final_bias == final["linear.bias"].item()


def test_momentum_and_adam_train_otherwise_than_plain_sgd(tutorial_run):
    for changes in ({"momentum": 0.9}, {"optimizer": "adam"}):
        assert train(TrainConfig(**changes)).history != tutorial_run.history


@pytest.mark.parametrize("engine", ["compiled", "batched"])
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"optimizer": "adam"}, "optimizer", "adam runs on the eager engine only"),
        ({"momentum": 0.9}, "momentum", "SGD's momentum runs on the eager engine only"),
    ],
)
def test_closed_form_engines_refuse_other_optimizers_naming_the_option(
    engine, changes, field, message
):
    config = TrainConfig(engine=engine, epochs=2, **changes)
    with pytest.raises(ConfigError, match=message) as caught:
        train(config)
    assert caught.value.field == field
    assert f"the {engine} engine steps plain SGD" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert str(unsupported(config)) == str(caught.value)


def test_plain_sgd_runs_on_every_engine():
    for engine in ("eager", "compiled", "batched"):
        assert unsupported(TrainConfig(engine=engine)) is None
