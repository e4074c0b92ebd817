"""TargetRef and TargetConfig: which target a run trains, and every knob of that run.

A target's identity is its name and its code hash (the sha256 of its source, and of the files it
declares, see linreg.target_loading): a run of a changed target has another config id, so its
references, baselines and history lines are never compared with the old ones as if the same. The
spec (``model.py:Net``, ``pkg.mod:Net``) says where the target was found; it is kept in the
record but left out of the config id, so the same code found from another folder is the same
target.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from linreg.config import DTYPES, ENGINES, MAX_EPOCHS
from linreg.errors import ConfigError
from linreg.json_types import JsonObject

_DEVICE_PATTERN = re.compile(r"^(cpu|auto|mps|cuda(:\d+)?)$")
_HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
# The code hash's share of an id or a folder name: 12 hex digits, 48 bits.
SHORT_HASH = 12


@dataclass(frozen=True)
class TargetRef:
    """Where a target was found (``spec``), its name, and the sha256 of its code."""

    spec: str
    name: str
    code_hash: str

    def __post_init__(self) -> None:
        for field in ("spec", "name"):
            if not isinstance(getattr(self, field), str) or not getattr(self, field):
                raise ConfigError(f"target.{field}", "must be a non-empty string")
        if not isinstance(self.code_hash, str) or not _HASH_PATTERN.match(self.code_hash):
            raise ConfigError("target.code_hash", f"must be 64 hex digits, got {self.code_hash!r}")

    @property
    def short_hash(self) -> str:
        return self.code_hash[:SHORT_HASH]

    def to_dict(self) -> JsonObject:
        return {"spec": self.spec, "name": self.name, "code_hash": self.code_hash}

    @classmethod
    def from_dict(cls, data: JsonObject) -> TargetRef:
        if not isinstance(data, dict):
            raise ConfigError("target", "must be an object with spec, name and code_hash")
        return cls(spec=data["spec"], name=data["name"], code_hash=data["code_hash"])


@dataclass(frozen=True)
class TargetConfig:
    """Every parameter of one run of a target. ``steps`` None: the size's own; a run's record
    holds the resolved config (a concrete device and number of steps)."""

    target: TargetRef
    size: str = "ci"
    seed: int = 42
    device: str = "cpu"
    dtype: str = "float32"
    engine: str = "eager"
    threads: int | None = None
    deterministic: bool = True
    # TensorFloat-32 in CUDA float32 matmuls: off, as for the tutorial.
    tf32: bool = False
    steps: int | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def replace(self, **changes: Any) -> TargetConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> JsonObject:
        data = dataclasses.asdict(self)
        data["target"] = self.target.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: JsonObject) -> TargetConfig:
        if not isinstance(data, dict):
            raise ConfigError("config", "must be an object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown field (known: {', '.join(sorted(known))})")
        return cls(**{**data, "target": TargetRef.from_dict(data["target"])})

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def config_id(self) -> str:
        """A short content hash of everything but where the target was found."""
        data = self.to_dict()
        del data["target"]["spec"]
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(c: TargetConfig) -> None:
    if not isinstance(c.target, TargetRef):
        raise ConfigError("target", f"must be a TargetRef, got {c.target!r}")
    if not isinstance(c.size, str) or not c.size:
        raise ConfigError("size", f"must name one of the target's sizes, got {c.size!r}")
    if not _is_int(c.seed) or not 0 <= c.seed < 2**63:
        raise ConfigError("seed", f"must be an integer in [0, 2**63), got {c.seed!r}")
    if c.steps is not None and (not _is_int(c.steps) or not 1 <= c.steps <= MAX_EPOCHS):
        raise ConfigError("steps", f"must be an integer in [1, {MAX_EPOCHS:.0e}], got {c.steps!r}")
    if c.threads is not None and (not _is_int(c.threads) or c.threads < 1):
        raise ConfigError("threads", f"must be an integer >= 1 or None, got {c.threads!r}")
    for name in ("deterministic", "tf32"):
        if not isinstance(getattr(c, name), bool):
            raise ConfigError(name, f"must be true or false, got {getattr(c, name)!r}")
    if c.dtype not in DTYPES:
        raise ConfigError("dtype", f"must be one of {', '.join(DTYPES)}; got {c.dtype!r}")
    if c.engine not in ENGINES:
        raise ConfigError("engine", f"must be one of {', '.join(ENGINES)}; got {c.engine!r}")
    if not isinstance(c.device, str) or not _DEVICE_PATTERN.match(c.device):
        raise ConfigError(
            "device", f"must be one of cpu, cuda, cuda:N, mps, auto; got {c.device!r}"
        )
