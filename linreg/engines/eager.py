"""The eager engine: the tutorial's training loop, op for op."""

from __future__ import annotations

import time

import torch

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.engines import EvalCallback
from linreg.engines.records import eval_epochs, make_run, record_eval, stop_if_diverged
from linreg.env import capture_environment
from linreg.model import build_model, make_loss_fn, make_optimizer
from linreg.numerics import numeric_settings, resolve, synchronize
from linreg.run import Run
from linreg.state import state_to_json


def train_eager(config: TrainConfig, on_eval: EvalCallback | None = None) -> Run:
    config = resolve(config)
    with numeric_settings(config):
        environment = capture_environment()
        data = make_dataset(config)
        model = build_model(config)
        initial_state = state_to_json(model.state_dict())
        loss_fn = make_loss_fn(config)
        optimizer = make_optimizer(config, model)

        # Losses stay on the device until the end: a .item() per epoch would force a host sync
        # per epoch and time the transfer instead of the training.
        train_losses = torch.empty(config.epochs, dtype=data.X_train.dtype, device=config.device)
        test_epochs = eval_epochs(config)
        test_losses = torch.empty(len(test_epochs), dtype=data.X_train.dtype, device=config.device)

        synchronize(config.device)
        started = time.perf_counter()
        for epoch in range(config.epochs):
            model.train()
            y_pred = model(data.X_train)
            loss = loss_fn(y_pred, data.y_train)

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

            train_losses[epoch] = loss.detach()
            if epoch % config.eval_every == 0:
                model.eval()
                with torch.inference_mode():
                    test_pred = model(data.X_test)
                    test_loss = loss_fn(test_pred, data.y_test)
                record_eval(config, epoch, loss, test_loss, train_losses, test_losses, on_eval)
        synchronize(config.device)
        train_seconds = time.perf_counter() - started
        stop_if_diverged(train_losses, None)

        timings = {"train_seconds": train_seconds, "epoch_us": train_seconds / config.epochs * 1e6}
        return make_run(
            config,
            environment,
            train_losses,
            test_losses,
            initial_state,
            model.state_dict(),
            timings,
        )
