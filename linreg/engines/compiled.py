"""The compiled engine: the whole training step as one torch.compile graph.

One step is forward, loss, gradient and the SGD update. For this model the gradient has a
closed form (L1: mean(sign(r)·x) and mean(sign(r)) with r = w·x + b − y; MSE: 2r in place of
sign(r)), the same values autograd computes, so the step can be written as one function and
inductor fuses it into a single pass over X and y. That pass is the memory floor of a step; an
autograd graph, compiled or not, saves the residual and reads it back in the backward pass.
Reductions run in the fused kernel's order, so runs agree with eager within tolerance, not bit
for bit. Compilation happens before the clock starts and is reported apart (compile_seconds).

Each graph gets a code object of its own. Dynamo keeps compiled graphs on the function's code
object, shared by every closure of one ``def``, and past ``recompile_limit`` (8) graphs on one
code object it stops compiling and runs the function eagerly, with only a logged warning. One
graph per dtype × size used to share one code object, so a bench session's 9th compiled case on
(engine_epoch float64 from n = 1e4) timed the eager step as "compiled": 36× the memory floor at
1e7 float64. ``fullgraph=True`` makes a graph break, or that fallback, an error instead.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import time
import types

import torch
from torch.nn import functional as F

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.engines.observe import EvalCallback, StepObserver, StepQuantities
from linreg.engines.prepared import PreparedRun
from linreg.engines.records import LossBuffer, eval_epochs, make_run, record_eval, stop_if_diverged
from linreg.engines.support import check_supported
from linreg.env import capture_environment
from linreg.errors import ConfigError
from linreg.model import build_model, make_loss_fn
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


def _training_step(loss_name: str, lr: float, traced: bool = False):
    """forward → loss → gradient → SGD update, returning (loss before the step, w, b); with
    ``traced`` also (ŷ, ŷ − y, grad w, grad b), for an observer of the step.

    The function returned has a code object of its own, so that its compiled graphs are not
    counted against those of other runs (see the module docstring).
    """
    squared = loss_name == "mse"

    def step(X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
        prediction = X * weight[0, 0] + bias[0]
        residual = prediction - y
        if squared:
            loss = (residual * residual).mean()
            slope = 2 * residual
        else:
            loss = residual.abs().mean()
            slope = torch.sign(residual)
        grad_weight = (slope * X).mean().reshape(1, 1)
        grad_bias = slope.mean().reshape(1)
        stepped = (loss, weight - lr * grad_weight, bias - lr * grad_bias)
        if traced:
            return (*stepped, prediction, residual, grad_weight, grad_bias)
        return stepped

    own = types.FunctionType(
        step.__code__.replace(), step.__globals__, step.__name__, None, step.__closure__
    )
    own.__qualname__ = step.__qualname__
    return own


@functools.lru_cache(maxsize=64)
def _compiled_step(
    loss_name: str,
    lr: float,
    device: torch.device,
    dtype: torch.dtype,
    shape: tuple[int, ...],
    traced: bool = False,
):
    """One compiled step per graph, keyed by what the graph is specialised on; runs of the same
    key reuse it (dynamo still guards on global state such as the thread count)."""
    return torch.compile(_training_step(loss_name, lr, traced), dynamic=False, fullgraph=True)


def prepare_compiled(
    config: TrainConfig,
    on_eval: EvalCallback | None = None,
    on_step: StepObserver | None = None,
) -> PreparedRun[Run]:
    check_supported(config)
    config = resolve(config)
    problem = compiler_problem(config.device)
    if problem is not None:
        raise ConfigError("engine", f"compiled is unavailable: {problem}; use eager or batched")
    with numeric_settings(config):
        environment = capture_environment()
        data = make_dataset(config)
        model = build_model(config)
        initial_state = state_to_json(model.state_dict())
        loss_fn = make_loss_fn(config)
        X, y = data.X_train, data.y_train
        step = _compiled_step(config.loss, config.lr, X.device, X.dtype, tuple(X.shape))
        weight = model.linear.weight.detach().clone()
        bias = model.linear.bias.detach().clone()
        compile_started = time.perf_counter()
        try:
            step(X, y, weight.clone(), bias.clone())  # compiles; the result is thrown away
        except Exception as exc:  # the compiler's failures have no common type
            _compiled_step.cache_clear()  # a failed compile is not kept for the next run
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ConfigError(
                "engine",
                f"compiled is unavailable: torch.compile failed ({type(exc).__name__}: "
                f"{first_line[:200]}); use eager or batched",
            ) from exc
        synchronize(config.device)
        compile_seconds = time.perf_counter() - compile_started

    train_losses = LossBuffer(config.epochs, data.X_train.dtype, config.device)
    test_losses = LossBuffer(len(eval_epochs(config)), data.X_train.dtype, config.device)
    traced_step = None
    if on_step is not None:
        traced_step = _compiled_step(
            config.loss, config.lr, X.device, X.dtype, tuple(X.shape), traced=True
        )

    def loop() -> float:
        nonlocal weight, bias
        synchronize(config.device)
        started = time.perf_counter()
        for epoch in range(config.epochs):
            seen = traced_step(X, y, weight, bias) if on_step is not None else None
            loss, weight, bias = step(X, y, weight, bias)
            train_losses.append(loss)
            if on_step is not None:
                on_step(epoch, _quantities(seen, loss, weight, bias))
            if epoch % config.eval_every == 0:
                with torch.inference_mode():
                    test_loss = loss_fn(F.linear(data.X_test, weight, bias), data.y_test)
                record_eval(epoch, loss, test_loss, train_losses, test_losses, on_eval)
        synchronize(config.device)
        return time.perf_counter() - started

    def finish(train_seconds: float) -> Run:
        stop_if_diverged(train_losses.values(), None)
        with torch.no_grad():
            model.linear.weight.copy_(weight)
            model.linear.bias.copy_(bias)

        timings = {
            "compile_seconds": compile_seconds,
            "train_seconds": train_seconds,
            "epoch_us": train_seconds / config.epochs * 1e6,
        }
        return make_run(
            config,
            environment,
            train_losses.values(),
            test_losses.values(),
            initial_state,
            model.state_dict(),
            timings,
        )

    return PreparedRun(config, loop, finish)


def _quantities(seen, loss, weight, bias) -> StepQuantities:
    """The step's values; its intermediates from the traced graph only where that graph's loss
    and parameters are the real step's, bit for bit (another graph may round otherwise)."""
    parameters = {"linear.weight": weight, "linear.bias": bias}
    same = (
        seen is not None
        and torch.equal(seen[0], loss)
        and torch.equal(seen[1], weight)
        and torch.equal(seen[2], bias)
    )
    if not same:
        return StepQuantities(None, None, loss, None, parameters)
    prediction, residual, grad_weight, grad_bias = seen[3:]
    gradients = {"linear.weight": grad_weight, "linear.bias": grad_bias}
    return StepQuantities(prediction, residual, loss, gradients, parameters)
