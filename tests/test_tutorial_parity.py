"""The eager engine against an inline copy of the tutorial's code, bit for bit."""

import torch
import torch.nn as nn

from linreg.config import TrainConfig
from linreg.engines import train


def tutorial_loop(seed: int):
    """The tutorial's code, as written there, with torch.manual_seed before the model is built."""
    weight = 0.8
    bias = 0.2
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
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    loss_fn = nn.L1Loss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    epochs = 500
    every_train_loss = []
    test_loss_vals = []
    epoch_vals = []
    for epoch in range(epochs):
        model.train()
        y_pred = model(X_train)
        loss = loss_fn(y_pred, y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        every_train_loss.append(loss.item())
        if epoch % 50 == 0:
            model.eval()
            with torch.inference_mode():
                test_pred = model(X_test)
                test_loss = loss_fn(test_pred, y_test)
                test_loss_vals.append(test_loss.item())
                epoch_vals.append(epoch)
    return initial, every_train_loss, epoch_vals, test_loss_vals, model.state_dict()


def test_seed_42_matches_the_tutorial_bit_for_bit(tutorial_run):
    initial, train_losses, epochs, test_losses, final = tutorial_loop(42)
    run = tutorial_run
    assert run.history.train_loss == tuple(train_losses)
    assert len(run.history.train_loss) == 500
    assert run.history.test_epochs == tuple(epochs) == tuple(range(0, 500, 50))
    assert run.history.test_loss == tuple(test_losses)
    assert run.final_weight == final["linear.weight"].item()
    assert run.final_bias == final["linear.bias"].item()
    assert run.initial_state["linear.weight"]["values"] == [initial["linear.weight"].item()]


def test_initial_parameters_of_seed_42(tutorial_run):
    assert tutorial_run.initial_state["linear.weight"]["values"] == [0.7645385265350342]
    assert tutorial_run.initial_state["linear.bias"]["values"] == [0.8300079107284546]


def test_another_seed_also_matches():
    _, train_losses, _, test_losses, final = tutorial_loop(3)
    run = train(TrainConfig(seed=3))
    assert run.history.train_loss == tuple(train_losses)
    assert run.history.test_loss == tuple(test_losses)
    assert run.final_weight == final["linear.weight"].item()


def test_training_leaves_global_torch_state_as_it_found_it():
    torch.manual_seed(1234)
    expected = torch.rand(3)
    threads = torch.get_num_threads()
    torch.manual_seed(1234)
    train(TrainConfig(epochs=5, threads=1))
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()
