"""What each engine can train: the optimizers beyond the tutorial's plain SGD run on eager only.

The compiled and batched engines write SGD's step in closed form; momentum and Adam would be a
second implementation of torch.optim to keep in step with it, so they refuse such a config
instead, and the repro matrix and the bench suite skip it with the same words. No torch here:
the CLI and the suites ask before anything is imported.
"""

from __future__ import annotations

from linreg.config import TrainConfig
from linreg.errors import ConfigError

# The engines that run every optimizer setting (through torch.optim).
OPTIMIZER_ENGINES = ("eager",)


def unsupported(config: TrainConfig) -> ConfigError | None:
    """Why the config's engine cannot train its optimizer setting, or None when it can."""
    if config.engine in OPTIMIZER_ENGINES:
        return None
    engines = ", ".join(OPTIMIZER_ENGINES)
    if config.optimizer != "sgd":
        return ConfigError(
            "optimizer",
            f"{config.optimizer} runs on the {engines} engine only; the {config.engine} engine "
            "steps plain SGD in closed form (use --engine eager)",
        )
    if config.momentum:
        return ConfigError(
            "momentum",
            f"SGD's momentum runs on the {engines} engine only; the {config.engine} engine "
            "steps plain SGD in closed form (use --engine eager or --momentum 0)",
        )
    return None


def check_supported(config: TrainConfig) -> None:
    """Raise the ConfigError of ``unsupported`` where there is one."""
    problem = unsupported(config)
    if problem is not None:
        raise problem
