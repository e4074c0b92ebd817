"""What a repro run is asked for: its matrix of configs and its options (tolerances, required
levels, golden references). Light on purpose: the CLI builds and validates these before torch is
imported, and a result set's manifest stores them so that --resume reuses them."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linreg.compare.pair_rule import DEFAULT_REQUIREMENTS
from linreg.compare.runs import DEFAULT_OUTCOME_STEPS, REQUIREMENTS
from linreg.config import TrainConfig
from linreg.errors import ConfigError
from linreg.json_types import JsonObject
from linreg.options import optimizer_settings
from linreg.paths import REFERENCE_DIR, results_root
from linreg.tolerance import Tolerance, Tolerances, default_tolerances


def default_repro_root() -> Path:
    """Where a repro result set goes unless --out says: the results root's repro/."""
    return results_root() / "repro"


@dataclass(frozen=True)
class ReproMatrix:
    """The axes of a repro run; ``threads`` None means torch's default ("all")."""

    devices: tuple[str, ...]
    dtypes: tuple[str, ...] = ("float32", "float64")
    seeds: tuple[int, ...] = (0, 1, 42)
    threads: tuple[int | None, ...] = (1, None)
    engines: tuple[str, ...] = ("eager",)
    tf32: tuple[bool, ...] = (False,)
    deterministic: tuple[bool, ...] = (True,)
    # Optimizer settings: each optimizer at each momentum, adam without (momentum is SGD's).
    # Runs of two settings are different trainings: none is compared with another's.
    optimizers: tuple[str, ...] = ("sgd",)
    momentums: tuple[float, ...] = (0.0,)
    base: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def default(cls, base: TrainConfig | None = None) -> ReproMatrix:
        from linreg.numerics import available_devices  # imports torch

        return cls(devices=tuple(available_devices()), base=base or TrainConfig())

    def optimizer_settings(self) -> list[dict[str, Any]]:
        """(optimizer, momentum) pairs as config fields (see linreg.options.optimizer_settings)."""
        return [
            {"optimizer": optimizer, "momentum": momentum}
            for optimizer, momentum in optimizer_settings(self.optimizers, self.momentums)
        ]

    def configs(self) -> list[TrainConfig]:
        """Every config of the matrix, plus each seed's float64 CPU eager reference (one per
        optimizer setting); combinations an engine cannot train are left out (``skipped``)."""
        from linreg.engines.support import unsupported

        return [c for c in self._all_configs() if unsupported(c) is None]

    def skipped(self) -> list[tuple[TrainConfig, str]]:
        """The combinations of axes left out, each with the reason (an engine's refusal)."""
        from linreg.engines.support import unsupported

        return [(c, str(unsupported(c))) for c in self._all_configs() if unsupported(c)]

    def _all_configs(self) -> list[TrainConfig]:
        seen: dict[str, TrainConfig] = {}
        for seed, setting in itertools.product(self.seeds, self.optimizer_settings()):
            for config in [self.reference(seed, self.base.replace(**setting))] + [
                self.base.replace(
                    **setting,
                    device=device,
                    dtype=dtype,
                    seed=seed,
                    threads=threads,
                    engine=engine,
                    tf32=tf32,
                    deterministic=deterministic,
                )
                for device in self.devices
                for dtype in self.dtypes
                for threads in self.threads
                for engine in self.engines
                for deterministic in self.deterministic
                for tf32 in self.tf32
            ]:
                seen.setdefault(config.config_id, config)
        return list(seen.values())

    def resume_configs(self) -> list[TrainConfig]:
        """The runs the resume check stops half-way and resumes in a fresh process: for each seed
        and optimizer setting, the eager run on the first device, of the first dtype, at the first
        thread count (deterministic, TF32 off); in the default matrix, each seed's CPU float32
        one-thread run."""
        return [
            c
            for c in self.configs()
            if c.engine == "eager" and c.deterministic and not c.tf32
            and (c.device, c.dtype, c.threads) == (self.devices[0], self.dtypes[0], self.threads[0])
        ]  # fmt: skip

    def reference(self, seed: int, like: TrainConfig | None = None) -> TrainConfig:
        """The float64 CPU one-thread eager run of ``seed``, with ``like``'s optimizer setting
        (the base's when None): what every run of that seed and setting is checked against."""
        like = like or self.base
        return self.base.replace(
            optimizer=like.optimizer,
            momentum=like.momentum,
            device="cpu",
            dtype="float64",
            seed=seed,
            threads=1,
            engine="eager",
            tf32=False,
            deterministic=True,
        )

    def twin(self, config: TrainConfig) -> TrainConfig:
        """What a run is checked against besides the float64 reference: a TF32 run its TF32-off
        twin, a nondeterministic run its deterministic twin, any other its CPU, one-thread,
        eager run of the same dtype and seed."""
        if config.tf32:
            return config.replace(tf32=False)
        if not config.deterministic:
            return config.replace(deterministic=True)
        return config.replace(device="cpu", threads=1, engine="eager")

    def to_dict(self) -> JsonObject:
        return {
            "devices": list(self.devices),
            "dtypes": list(self.dtypes),
            "seeds": list(self.seeds),
            "threads": list(self.threads),
            "engines": list(self.engines),
            "tf32": list(self.tf32),
            "deterministic": list(self.deterministic),
            "optimizers": list(self.optimizers),
            "momentums": list(self.momentums),
            "base": self.base.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> ReproMatrix:
        return cls(
            devices=tuple(data["devices"]),
            dtypes=tuple(data["dtypes"]),
            seeds=tuple(data["seeds"]),
            threads=tuple(data["threads"]),
            engines=tuple(data["engines"]),
            # Manifests written before these axes existed ran them at their defaults.
            tf32=tuple(data.get("tf32", (False,))),
            deterministic=tuple(data.get("deterministic", (True,))),
            optimizers=tuple(data.get("optimizers", ("sgd",))),
            momentums=tuple(data.get("momentums", (0.0,))),
            base=TrainConfig.from_dict(data["base"]),
        )

    @property
    def matrix_id(self) -> str:
        data = self.to_dict()
        # Axes added later are left out at their defaults: a matrix keeps the id it had.
        for axis, default in (("tf32", [False]), ("deterministic", [True]), ("optimizers", ["sgd"]),
                              ("momentums", [0.0])):  # fmt: skip
            if data[axis] == default:
                del data[axis]
        data["base"] = json.loads(self.base.canonical_json())
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


def label(config: TrainConfig) -> str:
    return (
        f"{config.device} {config.dtype} seed {config.seed} "
        f"threads {config.threads or 'all'} {config.engine}"
        + (" tf32" if config.tf32 else "")
        + ("" if config.deterministic else " nondeterministic")
        + ("" if config.optimizer == "sgd" else f" {config.optimizer}")
        + (f" momentum {config.momentum:g}" if config.momentum else "")
    )


def parse_requirements(items: list[str]) -> dict[str, str]:
    """``["threads=c", "golden=a"]`` over the defaults."""
    out = dict(DEFAULT_REQUIREMENTS)
    for item in items:
        pair, sep, level = item.partition("=")
        if not sep or pair not in DEFAULT_REQUIREMENTS or level not in REQUIREMENTS:
            raise ConfigError(
                "require",
                f"expected PAIR=LEVEL with PAIR one of {', '.join(DEFAULT_REQUIREMENTS)} "
                f"and LEVEL one of {', '.join(REQUIREMENTS)}; got {item!r}",
            )
        out[pair] = level
    return out


@dataclass(frozen=True)
class ReproOptions:
    """Everything a repro run was asked for: stored in its manifest, reused by ``--resume``.

    Validated on construction, so that a bad option costs no training.
    """

    matrix: ReproMatrix
    tolerances: Tolerances = field(default_factory=default_tolerances)
    requirements: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_REQUIREMENTS))
    reference_dir: Path | None = REFERENCE_DIR  # None: no golden check
    update_reference: bool = False
    outcome_steps: int = DEFAULT_OUTCOME_STEPS

    def __post_init__(self) -> None:
        if not isinstance(self.outcome_steps, int) or self.outcome_steps < 0:
            raise ConfigError(
                "outcome_steps", f"must be an integer >= 0, got {self.outcome_steps!r}"
            )
        if set(self.requirements) != set(DEFAULT_REQUIREMENTS) or not all(
            level in REQUIREMENTS for level in self.requirements.values()
        ):
            raise ConfigError("require", f"unknown requirements {self.requirements!r}")
        self.matrix.configs()  # building each config validates every axis

    @property
    def golden_dir(self) -> Path | None:
        """Where the golden check reads references (none while they are being rewritten)."""
        return None if self.update_reference else self.reference_dir

    def to_dict(self) -> JsonObject:
        return {
            "matrix": self.matrix.to_dict(),
            "tolerances": self.tolerances.to_dict(),
            "requirements": self.requirements,
            "reference_dir": None if self.reference_dir is None else str(self.reference_dir),
            "update_reference": self.update_reference,
            "outcome_steps": self.outcome_steps,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> ReproOptions:
        reference_dir = data["reference_dir"]
        return cls(
            matrix=ReproMatrix.from_dict(data["matrix"]),
            tolerances=Tolerances(
                {dtype: Tolerance(**tol) for dtype, tol in data["tolerances"].items()}
            ),
            # Pairs added since the manifest was written get their default requirement.
            requirements={**DEFAULT_REQUIREMENTS, **data["requirements"]},
            reference_dir=None if reference_dir is None else Path(reference_dir),
            update_reference=bool(data["update_reference"]),
            outcome_steps=data["outcome_steps"],
        )


# What each option of `linreg repro` decides in ReproOptions. A resumed run keeps the options it
# was started with: an option given again must decide the same, and only those that differ are
# refused (a command line repeated with --resume is the usual way to finish a run).
OPTION_PARTS: dict[str, Callable[[ReproOptions], Any]] = {
    "devices": lambda o: o.matrix.devices,
    "dtypes": lambda o: o.matrix.dtypes,
    "seeds": lambda o: o.matrix.seeds,
    "threads": lambda o: o.matrix.threads,
    "engines": lambda o: o.matrix.engines,
    "tf32": lambda o: o.matrix.tf32,
    "deterministic": lambda o: o.matrix.deterministic,
    "optimizers": lambda o: o.matrix.optimizers,
    "momentums": lambda o: o.matrix.momentums,
    "lr": lambda o: o.matrix.base.lr,
    "epochs": lambda o: o.matrix.base.epochs,
    "samples": lambda o: o.matrix.base.samples,
    "rtol": lambda o: {dtype: t.rtol for dtype, t in o.tolerances.by_dtype.items()},
    "atol": lambda o: {dtype: t.atol for dtype, t in o.tolerances.by_dtype.items()},
    "pyproject": lambda o: o.tolerances.to_dict(),
    "require": lambda o: o.requirements,
    "outcome_steps": lambda o: o.outcome_steps,
    "reference_dir": lambda o: o.reference_dir,
    "golden": lambda o: o.golden_dir is not None,
    "update_reference": lambda o: o.update_reference,
}


def differing_options(
    stored: ReproOptions, asked: ReproOptions, given: Iterable[str]
) -> dict[str, tuple[Any, Any]]:
    """The given options whose part of ``asked`` differs from ``stored``'s: name → (stored's
    value, asked's value); of a mapping (tolerances, requirements), the entries that differ."""
    found = {}
    for name in given:
        was, now = OPTION_PARTS[name](stored), OPTION_PARTS[name](asked)
        if was == now:
            continue
        if isinstance(was, dict) and isinstance(now, dict):
            keys = [k for k in {**was, **now} if was.get(k) != now.get(k)]
            was, now = {k: was.get(k) for k in keys}, {k: now.get(k) for k in keys}
        found[name] = (was, now)
    return found


def said(value: Any) -> str:
    """An option's value as a command line would give it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join("all" if v is None else said(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={said(v)}" for k, v in value.items())
    return str(value)
