"""Engines: each takes a TrainConfig and gives a Run; they differ in how, not what."""

from __future__ import annotations

from collections.abc import Callable

from linreg.config import TrainConfig
from linreg.run import Run

# Called at each evaluated epoch with (epoch, train_loss, test_loss).
EvalCallback = Callable[[int, float, float], None]


def train(config: TrainConfig, on_eval: EvalCallback | None = None) -> Run:
    """Train with the config's engine."""
    if config.engine == "eager":
        from linreg.engines.eager import train_eager

        return train_eager(config, on_eval=on_eval)
    if config.engine == "compiled":
        from linreg.engines.compiled import train_compiled

        return train_compiled(config, on_eval=on_eval)
    if config.engine == "batched":
        from linreg.engines.batched import train_batched

        (run,) = train_batched(config, on_eval=on_eval)
        return run
    raise NotImplementedError(config.engine)  # TrainConfig refuses unknown engines first
