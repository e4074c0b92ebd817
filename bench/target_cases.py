"""A target's bench cases, from its spec: the target loaded once per process, its case id part
(name, code hash, size), the config of a case, and the calls a case times and counts.

The code hash is in every target case's id, so a changed target's cases are new cases: their
baselines, references and history series start afresh, never compared with the old code's.
bench/instructions.py and bench/counted_ops.py rebuild a case from its extra_info through
``make_target_case``, loading the target by spec in their own process and refusing a target
whose code changed since the case ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from linreg.errors import ConfigError
from linreg.target import Target
from linreg.target_config import TargetConfig, TargetRef
from linreg.target_loading import load_target

# The extra_info fields a target case is rebuilt from, beside kind, device, dtype, seed, engine
# and threads.
TARGET_FIELDS = ("target_spec", "code_hash", "target_size")


@dataclass(frozen=True)
class TargetCase:
    """The target of a session's target cases, and the size they train."""

    target: Target
    ref: TargetRef
    size: str

    @property
    def id(self) -> str:
        """The cases' id part: ``mlp-3f9a1c2b4d5e-ci``."""
        return f"{self.ref.name}-{self.ref.short_hash}-{self.size}"

    def steps(self) -> int:
        return int(self.target.sizes[self.size]["steps"])

    def info(self) -> dict:
        """What every target case records in extra_info about its target."""
        return {"target": self.ref.name, "target_spec": self.ref.spec,
                "code_hash": self.ref.code_hash, "target_size": self.size}  # fmt: skip


@cache
def load_case(spec: str, size: str) -> TargetCase:
    """The target a spec names with its size checked (TargetError, a ConfigError, otherwise)."""
    target, ref = load_target(spec)
    if size not in target.sizes:
        raise ConfigError("target-size", f"{spec} has no size {size!r} (it has "
                          f"{', '.join(target.sizes)})")  # fmt: skip
    return TargetCase(target, ref, size)


def case_config(case: TargetCase, device: str, dtype: str, seed: int, engine: str,
                threads: int | None = None) -> TargetConfig:  # fmt: skip
    return TargetConfig(target=case.ref, size=case.size, seed=seed, device=device, dtype=dtype,
                        engine=engine, threads=threads)  # fmt: skip


def spec_case(spec: dict) -> tuple[TargetCase, TargetConfig]:
    """The case a spec (a case's extra_info fields) describes, its target loaded by spec and
    refused where its code hash is not the case's."""
    case = load_case(spec["target_spec"], spec["target_size"])
    if case.ref.code_hash != spec["code_hash"]:
        raise ConfigError("target", f"{spec['target_spec']}: its code changed since the case "
                          f"ran (code hash {case.ref.short_hash}, the case's "
                          f"{spec['code_hash'][:12]})")  # fmt: skip
    config = case_config(case, spec["device"], spec["dtype"],
                         42 if spec.get("seed") is None else spec["seed"],
                         spec.get("engine") or "eager", spec.get("threads"))  # fmt: skip
    return case, config


def make_target_case(
    spec: dict, steps: int | None = None
) -> tuple[Callable[[], Callable[[], object]], int, int]:
    """(prepare, calls, steps a call runs) of a target case: ``prepare()`` does the uncounted
    set-up and returns the counted call (a target_step case's loop over the size's steps, or its
    first ``steps`` of them; a target_inference case's forward over the eval batches)."""
    from linreg.engines.target_inference import inference_call
    from linreg.engines.target_loop import prepare_target

    case, config = spec_case(spec)
    if spec["kind"] == "target_step":
        if steps is None or steps >= case.steps():
            return (lambda: prepare_target(config, case.target).loop), 1, case.steps()
        return (lambda: prepare_target(config, case.target, stop_at=steps).loop), 1, steps
    if spec["kind"] == "target_inference":
        call, _ = inference_call(config, case.target)
        return (lambda: call), 1, 1
    raise ValueError(f"not a target case: {spec['kind']!r}")
