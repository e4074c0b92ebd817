"""What a sweep and its band check are asked for, checked before any member trains. Light on
purpose: the CLI validates these before torch is imported."""

from __future__ import annotations

import math
from pathlib import Path

from linreg.errors import ConfigError
from linreg.paths import results_root

DEFAULT_TOLERANCE = 0.01
DEFAULT_SLACK = 0.5
# Each member keeps its whole loss history in memory: a million members is already gigabytes.
MAX_MEMBERS = 1_000_000


def default_sweeps() -> Path:
    """Where a sweep goes unless --out says: the results root's sweeps/."""
    return results_root() / "sweeps"


def check_tolerance(tolerance: float) -> None:
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ConfigError("tolerance", f"must be a finite number >= 0, got {tolerance!r}")


def check_slack(slack: float) -> None:
    if not (math.isfinite(slack) and slack >= 0):
        raise ConfigError("slack", f"must be a finite number >= 0, got {slack!r}")
