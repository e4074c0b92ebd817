"""TargetCheck: what `linreg target check` found about a target: what it declares, whether each
declared dtype trains on the CPU, and whether two runs of one config agree bit for bit."""

from __future__ import annotations

from dataclasses import dataclass

from linreg.json_types import JsonObject
from linreg.target_config import TargetRef


@dataclass(frozen=True)
class DtypeCheck:
    """One declared dtype: ``problem`` None where its steps trained, with the last train loss."""

    dtype: str
    problem: str | None
    last_loss: float | None

    def to_dict(self) -> JsonObject:
        return {"dtype": self.dtype, "problem": self.problem, "last_loss": self.last_loss}


@dataclass(frozen=True)
class TargetCheck:
    target: TargetRef
    devices: tuple[str, ...]
    engines: tuple[str, ...]
    sizes: tuple[str, ...]
    nondeterministic: tuple[str, ...]  # as the target declares it, in words
    dtypes: tuple[DtypeCheck, ...]  # empty where the target does not run on the CPU
    twin_dtype: str | None  # the dtype trained twice; None where none trained
    twin_difference: str | None  # where the two runs first differ; None where they agree

    @property
    def failures(self) -> list[str]:
        """Each failed check in one line."""
        out = [f"{d.dtype} does not train on the CPU: {d.problem}" for d in self.dtypes
               if d.problem is not None]  # fmt: skip
        if self.twin_difference is not None and not self.nondeterministic:
            out.append(
                f"nondeterministic: two {self.twin_dtype} runs of one config differ first in "
                f"{self.twin_difference}; find what draws or reduces differently, or declare it "
                "(nondeterministic = (...,))"
            )
        return out

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> JsonObject:
        return {
            "target": self.target.to_dict(),
            "devices": list(self.devices),
            "engines": list(self.engines),
            "sizes": list(self.sizes),
            "nondeterministic": list(self.nondeterministic),
            "dtypes": [d.to_dict() for d in self.dtypes],
            "twin_dtype": self.twin_dtype,
            "twin_difference": self.twin_difference,
        }
