"""What a target's repro run is asked for: its matrix of configs and its tolerances. Stored in
the set's manifest, so that ``linreg repro --resume`` takes it up with the same options.

Per seed the matrix holds, besides its own axes, the float64 CPU one-thread eager run (the
reference every run is judged against) and each run's twin (its dtype's CPU one-thread eager
run, which says how far that dtype can be from float64 at all). Combinations the target does
not declare, or the harness cannot train, are left out and listed with the reason.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field

from linreg.errors import ConfigError
from linreg.json_types import JsonObject
from linreg.target import Target
from linreg.target_config import TargetConfig, TargetRef
from linreg.tolerance import Tolerance, Tolerances, default_tolerances

REFERENCE_DTYPE = "float64"
# The harness's engines for targets (linreg.engines.target_loop.TARGET_ENGINES), named here
# without importing torch.
TARGET_ENGINES = ("eager", "compiled")


@dataclass(frozen=True)
class TargetReproMatrix:
    """The axes of a target's repro run; ``threads`` None means torch's default ("all")."""

    target: TargetRef
    size: str
    steps: int  # the size's: every config names it, so that a run's record is its config
    devices: tuple[str, ...] = ("cpu",)
    dtypes: tuple[str, ...] = ("float32", "float64")
    seeds: tuple[int, ...] = (0,)
    threads: tuple[int | None, ...] = (1,)
    engines: tuple[str, ...] = ("eager",)

    def __post_init__(self) -> None:
        for axis in ("devices", "dtypes", "seeds", "threads", "engines"):
            if not getattr(self, axis):
                raise ConfigError(axis, "must name at least one value")
        if "auto" in self.devices:
            raise ConfigError("devices", "name the devices (cpu, cuda, cuda:N, mps), not auto")
        self._asked()  # building each config validates every axis

    def base(self) -> TargetConfig:
        return TargetConfig(target=self.target, size=self.size, steps=self.steps)

    def reference(self, seed: int) -> TargetConfig:
        """The float64 CPU one-thread eager run of ``seed``: what every run is judged against."""
        return self.base().replace(
            seed=seed, device="cpu", dtype=REFERENCE_DTYPE, threads=1, engine="eager"
        )

    def twin(self, config: TargetConfig) -> TargetConfig:
        """The CPU, one-thread eager run of the config's dtype and seed."""
        return config.replace(device="cpu", threads=1, engine="eager")

    def _asked(self) -> list[TargetConfig]:
        seen: dict[str, TargetConfig] = {}
        for seed in self.seeds:
            asked = [
                self.base().replace(
                    seed=seed, device=device, dtype=dtype, threads=threads, engine=engine
                )
                for device, dtype, threads, engine in itertools.product(
                    self.devices, self.dtypes, self.threads, self.engines
                )
            ]
            for config in [self.reference(seed), *asked, *(self.twin(c) for c in asked)]:
                seen.setdefault(config.config_id, config)
        return list(seen.values())

    def configs(self, target: Target) -> list[TargetConfig]:
        """Every config the matrix trains: those asked for, each seed's reference and each
        run's twin, less those the target or the harness cannot train (``skipped``)."""
        return [c for c in self._asked() if unsupported(target, c) is None]

    def skipped(self, target: Target) -> list[tuple[TargetConfig, str]]:
        return [(c, why) for c in self._asked() if (why := unsupported(target, c)) is not None]

    def resume_configs(self, target: Target) -> list[TargetConfig]:
        """The runs the resume check stops half-way and resumes in a fresh process: per seed,
        the eager run on the first device, of the first dtype, at the first thread count."""
        trained = self.configs(target)
        first = (self.devices[0], self.dtypes[0], self.threads[0])
        return [
            c for c in trained if c.engine == "eager" and (c.device, c.dtype, c.threads) == first
        ]

    def to_dict(self) -> JsonObject:
        return {
            "target": self.target.to_dict(),
            "size": self.size,
            "steps": self.steps,
            "devices": list(self.devices),
            "dtypes": list(self.dtypes),
            "seeds": list(self.seeds),
            "threads": list(self.threads),
            "engines": list(self.engines),
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> TargetReproMatrix:
        return cls(
            target=TargetRef.from_dict(data["target"]),
            size=data["size"],
            steps=data["steps"],
            devices=tuple(data["devices"]),
            dtypes=tuple(data["dtypes"]),
            seeds=tuple(data["seeds"]),
            threads=tuple(data["threads"]),
            engines=tuple(data["engines"]),
        )

    @property
    def matrix_id(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


def unsupported(target: Target, config: TargetConfig) -> str | None:
    """Why ``config`` is left out of the matrix, or None where it is trained."""
    from linreg.target_loading import unsupported as undeclared

    if config.engine not in TARGET_ENGINES:
        return f"the {config.engine} engine does not train targets yet"
    problem = undeclared(target, config)
    if problem is not None:
        return f"{target.target_name()} {problem.problem}"
    if config.engine == "compiled":
        from linreg.engines.compiled import compiler_problem  # imports torch

        missing = compiler_problem(config.device.split(":")[0])
        if missing is not None:
            return f"compiled is unavailable here: {missing}"
    return None


def label(config: TargetConfig) -> str:
    return (
        f"{config.device} {config.dtype} seed {config.seed} threads {config.threads or 'all'}"
        f" {config.engine}"
    )


@dataclass(frozen=True)
class TargetReproOptions:
    """Everything a target's repro run was asked for: its matrix, the tolerance of each dtype
    (linreg's table, then pyproject.toml's, then the target's own ``tolerances``, then
    --rtol/--atol) and the target's ``fp64_multiplier``."""

    matrix: TargetReproMatrix
    tolerances: Tolerances = field(default_factory=default_tolerances)
    fp64_multiplier: float = 3.0

    def __post_init__(self) -> None:
        if not isinstance(self.fp64_multiplier, (int, float)) or not self.fp64_multiplier > 0:
            raise ConfigError("fp64_multiplier", f"must be > 0, got {self.fp64_multiplier!r}")

    def to_dict(self) -> JsonObject:
        return {
            "matrix": self.matrix.to_dict(),
            "tolerances": self.tolerances.to_dict(),
            "fp64_multiplier": self.fp64_multiplier,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> TargetReproOptions:
        return cls(
            matrix=TargetReproMatrix.from_dict(data["matrix"]),
            tolerances=Tolerances(
                {dtype: Tolerance(**tol) for dtype, tol in data["tolerances"].items()}
            ),
            fp64_multiplier=float(data["fp64_multiplier"]),
        )


def target_tolerances(
    base: Tolerances, target: Target, rtol: float | None, atol: float | None
) -> Tolerances:
    """``base`` (linreg's table and pyproject.toml's) with the target's own tolerances over
    it, then the command line's for every dtype."""
    own = {
        dtype: Tolerance(rtol=float(r), atol=float(a))
        for dtype, (r, a) in target.tolerances.items()
    }
    return Tolerances({**base.by_dtype, **own}).with_overrides(rtol=rtol, atol=atol)
