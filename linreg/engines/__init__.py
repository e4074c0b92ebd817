"""Engines: each takes a TrainConfig and gives a Run; they differ in how, not what.

``train(config)`` is ``prepare(config)``, then its ``loop()`` (the epochs, nothing else: what a
benchmark times), then its ``finish()`` (the Run). See linreg.engines.prepared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linreg.config import TrainConfig
from linreg.run import Run

if TYPE_CHECKING:  # torch is imported by the engines, not by whoever only names them
    from linreg.engines.observe import EvalCallback, StepObserver
    from linreg.engines.prepared import PreparedRun


def prepare(
    config: TrainConfig, on_eval: EvalCallback | None = None, on_step: StepObserver | None = None
) -> PreparedRun[Run]:
    """Set up a run with the config's engine: environment, data, model (and compilation).
    ``on_step`` sees each epoch's quantities (linreg.engines.observe)."""
    if config.engine == "eager":
        from linreg.engines.eager import prepare_eager

        return prepare_eager(config, on_eval=on_eval, on_step=on_step)
    if config.engine == "compiled":
        from linreg.engines.compiled import prepare_compiled

        return prepare_compiled(config, on_eval=on_eval, on_step=on_step)
    if config.engine == "batched":
        from linreg.engines.batched import prepare_one_member

        return prepare_one_member(config, on_eval=on_eval, on_step=on_step)
    raise NotImplementedError(config.engine)  # TrainConfig refuses unknown engines first


def train(config: TrainConfig, on_eval: EvalCallback | None = None) -> Run:
    """Train with the config's engine."""
    prepared = prepare(config, on_eval=on_eval)
    prepared.loop()
    return prepared.finish()
