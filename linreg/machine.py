"""Machine names: the folder a machine's benchmark results live in under results/bench/."""

from __future__ import annotations

import os
import re
from collections import Counter

from linreg.env import cpu_model, gpu_names
from linreg.errors import ConfigError

MACHINE_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def slug(text: str) -> str:
    """Lower case, runs of anything but letters and digits turned into one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def default_machine_name(
    cpu: str | None = None, cpu_count: int | None = None, gpus: list[str] | None = None
) -> str:
    """A name built from what decides speed: CPU model, core count and GPU models.

    Stable on one machine (no host name, no time), different between machines whose CPU or GPU
    models differ. pytest-benchmark's own id (e.g. Linux-CPython-3.11-64bit) knows neither.
    """
    cpu = cpu_model() if cpu is None else cpu
    cpu_count = os.cpu_count() if cpu_count is None else cpu_count
    gpus = gpu_names() if gpus is None else gpus
    # Marketing words carry no information and make names long.
    words = [w for w in slug(cpu).split("-") if w not in {"r", "tm", "cpu", "processor", "with"}]
    parts = ["-".join(words[:8]) or "unknown-cpu", f"{cpu_count or 0}c"]
    for name, count in sorted(Counter(gpus).items()):
        gpu = slug(name.removeprefix("NVIDIA ").removeprefix("nvidia "))
        parts.append(f"{count}x-{gpu}" if count > 1 else gpu)
    return validate_machine_name("-".join(parts)[:100].rstrip("-._"))


def validate_machine_name(name: str) -> str:
    """Return the name if it is a usable folder name, else raise ConfigError('machine', ...)."""
    if not isinstance(name, str) or not MACHINE_NAME_PATTERN.match(name):
        raise ConfigError(
            "machine",
            f"{name!r} is not a machine name: use 1-100 of a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit",
        )
    return name
