"""The compiled engine: the tutorial's step with model and loss through torch.compile.

The forward pass and the loss (and with them, via AOTAutograd, their backward) are compiled; the
optimizer step stays torch's SGD. Compilation happens on a throwaway copy of the parameters before
the clock starts, so compile time is reported apart (``compile_seconds``) and the run's epochs
start from the seed's initial parameters like eager's.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

import torch
from torch.nn import functional as F

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.engines import EvalCallback
from linreg.engines.records import eval_epochs, make_run, stop_if_diverged
from linreg.env import capture_environment
from linreg.errors import ConfigError
from linreg.model import build_model, make_loss_fn, make_optimizer
from linreg.numerics import numeric_settings, resolve, synchronize
from linreg.run import Run
from linreg.state import state_to_json


def compiler_problem(device: str) -> str | None:
    """Why torch.compile cannot work here, or None if nothing is known to stand in the way."""
    dynamo = getattr(torch, "_dynamo", None)
    is_supported = getattr(dynamo, "is_dynamo_supported", None)
    if is_supported is not None and not is_supported():
        python = sys.version.split()[0]
        return f"torch.compile does not support Python {python} in torch {torch.__version__}"
    if device == "cpu":
        compilers = [os.environ.get("CXX"), "g++", "c++", "clang++"]
        if not any(c and shutil.which(c) for c in compilers):
            return "torch.compile on cpu needs a C++ compiler (g++, c++ or clang++; or set CXX)"
    return None


def train_compiled(config: TrainConfig, on_eval: EvalCallback | None = None) -> Run:
    config = resolve(config)
    problem = compiler_problem(config.device)
    if problem is not None:
        raise ConfigError("engine", f"compiled is unavailable: {problem}; use eager or batched")
    with numeric_settings(config):
        environment = capture_environment()
        data = make_dataset(config)
        model = build_model(config)
        initial_state = state_to_json(model.state_dict())
        base_loss = make_loss_fn(config)
        optimizer = make_optimizer(config, model)

        def loss_of(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            return base_loss(F.linear(data.X_train, weight, bias), data.y_train)

        step_loss = torch.compile(loss_of, dynamic=False)
        compile_started = time.perf_counter()
        try:
            probe = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
            step_loss(*probe).backward()
        except Exception as exc:  # the compiler's failures have no common type
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ConfigError(
                "engine",
                f"compiled is unavailable: torch.compile failed ({type(exc).__name__}: "
                f"{first_line[:200]}); use eager or batched",
            ) from exc
        synchronize(config.device)
        compile_seconds = time.perf_counter() - compile_started

        train_losses = torch.empty(config.epochs, dtype=data.X_train.dtype, device=config.device)
        test_losses = torch.empty(
            len(eval_epochs(config)), dtype=data.X_train.dtype, device=config.device
        )
        weight, bias = model.linear.weight, model.linear.bias

        synchronize(config.device)
        started = time.perf_counter()
        for epoch in range(config.epochs):
            model.train()
            loss = step_loss(weight, bias)

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

            train_losses[epoch] = loss.detach()
            if epoch % config.eval_every == 0:
                model.eval()
                with torch.inference_mode():
                    test_loss = base_loss(model(data.X_test), data.y_test)
                test_losses[epoch // config.eval_every] = test_loss
                train_value = loss.item()
                stop_if_diverged(train_losses[: epoch + 1], train_value)
                if on_eval is not None:
                    on_eval(epoch, train_value, test_loss.item())
        synchronize(config.device)
        train_seconds = time.perf_counter() - started
        stop_if_diverged(train_losses, None)

        timings = {
            "compile_seconds": compile_seconds,
            "train_seconds": train_seconds,
            "epoch_us": train_seconds / config.epochs * 1e6,
        }
        return make_run(
            config,
            environment,
            train_losses,
            test_losses,
            initial_state,
            model.state_dict(),
            timings,
        )
