"""Two sets of a target's runs compared: which runs paired, by what, and where each pair first
differs. Built by linreg.compare.target_runs; said in words by the CLI."""

from __future__ import annotations

from dataclasses import dataclass

# A pair's status: the same config (the same target version) alike to the bit, or not; or two
# runs of one config but of two versions of the target (another code hash), which are compared
# for information and never judged as the same target.
IDENTICAL, DIFFERS, ANOTHER_VERSION = "bit-identical", "differs", "another version"


@dataclass(frozen=True)
class TargetRunPair:
    label: str  # the config in words (device dtype seed threads engine, size)
    target: str  # the target's name
    reference_hash: str
    candidate_hash: str
    status: str  # IDENTICAL, DIFFERS or ANOTHER_VERSION
    difference: str | None = None  # the first quantity that differs, in words; None: none
    step: int | None = None  # the step it differs at, where a curve says
    same_stack: bool = True  # both ran on the same torch and Python (bits may differ otherwise)

    @property
    def fails(self) -> bool:
        """The same config of the same target on the same stack must be bit-identical."""
        return self.status == DIFFERS and self.same_stack

    @property
    def another_version(self) -> bool:
        return self.status == ANOTHER_VERSION

    def words(self) -> str:
        where = "" if self.step is None else f" at step {self.step}"
        if self.another_version:
            said = (f"another version of the target {self.target} (code hash "
                    f"{self.reference_hash[:12]} → {self.candidate_hash[:12]}): compared for "
                    "information, not as the same target")  # fmt: skip
            return said + (f"; differs first in {self.difference}{where}"
                           if self.difference else "; every loss and tensor alike")  # fmt: skip
        if self.status == IDENTICAL:
            return "bit-identical: every loss and every trained tensor"
        stack = "" if self.same_stack else " (another stack: information)"
        return f"differs first in {self.difference}{where}{stack}"


@dataclass(frozen=True)
class TargetRunComparison:
    reference_source: str
    candidate_source: str
    pairs: tuple[TargetRunPair, ...]
    unmatched: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(pair.fails for pair in self.pairs)
