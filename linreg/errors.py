"""Exception types the library raises; the CLI turns each into one line and an exit code."""

from __future__ import annotations


class LinregError(Exception):
    """Base of every error linreg raises on purpose."""


class ConfigError(LinregError, ValueError):
    """A parameter of a run is invalid; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class CheckpointError(LinregError):
    """A checkpoint file is missing, unreadable or does not fit the model."""


class ResultSetError(LinregError):
    """A result file or folder is missing, unreadable or of an unknown kind."""


class OutputError(LinregError):
    """An output location cannot be written, or would overwrite earlier results."""


class TrainingDiverged(LinregError):
    """A loss became NaN or infinite; nothing of the run is kept."""

    def __init__(self, epoch: int, value: float) -> None:
        self.epoch = epoch
        self.value = value
        super().__init__(f"training diverged: train loss is {value} at epoch {epoch}")
