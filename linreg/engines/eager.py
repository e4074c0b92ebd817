"""The eager engine: the tutorial's training loop, op for op.

The loop runs over the epochs asked of it: all of them, or from a resumed run's epoch
(``resume_from``, a TrainingState) and up to a stop (``stop_at``); see linreg.engines.resumable.
"""

from __future__ import annotations

import time

import torch

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.engines.observe import EvalCallback, StepObserver, StepQuantities
from linreg.engines.prepared import ResumableRun, check_segment
from linreg.engines.records import LossBuffer, eval_epochs, make_run, record_eval, stop_if_diverged
from linreg.env import capture_environment
from linreg.model import build_model, make_loss_fn, make_optimizer
from linreg.numerics import numeric_settings, resolve, synchronize
from linreg.run import Run
from linreg.state import state_to_json
from linreg.training_state import TrainingState, cpu_copy


def prepare_eager(
    config: TrainConfig,
    on_eval: EvalCallback | None = None,
    resume_from: TrainingState | None = None,
    stop_at: int | None = None,
    on_step: StepObserver | None = None,
) -> ResumableRun:
    config = resolve(config)
    check_segment(config, resume_from, stop_at)
    first_epoch = 0 if resume_from is None else resume_from.epoch
    last_epoch = config.epochs if stop_at is None else stop_at
    with numeric_settings(config):
        environment = capture_environment()
        data = make_dataset(config)
        model = build_model(config)
        initial_state = state_to_json(model.state_dict())
        loss_fn = make_loss_fn(config)
        optimizer = make_optimizer(config, model)
        if resume_from is not None:
            initial_state = resume_from.initial_state
            model.load_state_dict(resume_from.model)
            # The optimizer steps its state in place: it gets a copy, not the state's tensors.
            optimizer.load_state_dict(cpu_copy(resume_from.optimizer))

    X_train, y_train, X_test, y_test = data.X_train, data.y_train, data.X_test, data.y_test
    epochs, eval_every = config.epochs, config.eval_every
    # Losses stay on the device until the end: a .item() per epoch would force a host sync
    # per epoch and time the transfer instead of the training.
    train_losses = LossBuffer(epochs, X_train.dtype, config.device)
    test_losses = LossBuffer(len(eval_epochs(config)), X_train.dtype, config.device)
    if resume_from is not None:
        train_losses.extend(resume_from.train_loss.to(config.device))
        test_losses.extend(resume_from.test_loss.to(config.device))
    seconds_before = 0.0 if resume_from is None else resume_from.train_seconds

    def loop() -> float:
        synchronize(config.device)
        started = time.perf_counter()
        for epoch in range(first_epoch, last_epoch):
            model.train()
            y_pred = model(X_train)
            loss = loss_fn(y_pred, y_train)

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

            train_losses.append(loss.detach())
            if on_step is not None:
                on_step(epoch, _quantities(model, y_pred, y_train, loss))
            if epoch % eval_every == 0:
                model.eval()
                with torch.inference_mode():
                    test_pred = model(X_test)
                    test_loss = loss_fn(test_pred, y_test)
                record_eval(epoch, loss, test_loss, train_losses, test_losses, on_eval)
        synchronize(config.device)
        return time.perf_counter() - started

    def finish(train_seconds: float) -> Run:
        stop_if_diverged(train_losses.values(), None)
        train_seconds += seconds_before
        timings = {"train_seconds": train_seconds, "epoch_us": train_seconds / epochs * 1e6}
        return make_run(
            config,
            environment,
            train_losses.values(),
            test_losses.values(),
            initial_state,
            model.state_dict(),
            timings,
        )

    def snapshot(epoch: int, rng: dict, seconds: float) -> TrainingState:
        """The run's state as it stands, copied off the live model, optimizer and losses."""
        return TrainingState(
            config=config,
            epoch=epoch,
            model=cpu_copy(model.state_dict()),
            optimizer=cpu_copy(optimizer.state_dict()),
            rng=rng,
            train_loss=cpu_copy(train_losses.values()),
            test_loss=cpu_copy(test_losses.values()),
            initial_state=initial_state,
            train_seconds=seconds,
        )

    return ResumableRun(
        config, loop, finish, snapshot, first_epoch, last_epoch,
        None if resume_from is None else resume_from.rng, seconds_before,
    )  # fmt: skip


def _quantities(
    model: torch.nn.Module, y_pred: torch.Tensor, y: torch.Tensor, loss: torch.Tensor
) -> StepQuantities:
    with torch.no_grad():
        residual = y_pred.detach() - y  # what L1Loss and MSELoss form first
    named = dict(model.named_parameters())
    return StepQuantities(
        prediction=y_pred.detach(),
        residual=residual,
        loss=loss.detach(),
        gradients={n: p.grad.detach() for n, p in named.items() if p.grad is not None},
        parameters={n: p.detach() for n, p in named.items()},
    )
