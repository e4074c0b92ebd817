"""linreg: a benchmarking and reproducibility harness built on the tutorial's linear regression."""

from linreg.config import TrainConfig
from linreg.errors import (
    CheckpointError,
    ConfigError,
    LinregError,
    ResultSetError,
    TrainingDiverged,
)
from linreg.target import Size, Target, TargetData, TargetError

__all__ = [
    "CheckpointError",
    "ConfigError",
    "LinregError",
    "ResultSetError",
    "Size",
    "Target",
    "TargetData",
    "TargetError",
    "TrainConfig",
    "TrainingDiverged",
]
__version__ = "0.1.0"
