"""A same-machine A/B's record (its ab.json): the two stacks, the numeric verdict run by run, the
speed verdict, and what failed. ``linreg.suites.ab`` writes it; the report and `linreg ab` read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linreg.json_types import JsonObject
from linreg.results import speed_verdict
from linreg.results.run_comparison import LEVEL_NAMES, LEVELS
from linreg.results.speed_verdict import SpeedVerdict

ROLES = ("reference", "candidate")
NOT_RUN, NONE_IN_COMMON = "not run", "no run in common"

# The build flavours PyTorch publishes, each on its own wheel index (download.pytorch.org/whl/
# cpu, /cu130, /rocm6.4, /xpu) and named by the local tag of the torch it builds (2.13.0+cpu).
_FLAVOUR = re.compile(r"cpu|cu\d+|rocm\d+(?:\.\d+)?|xpu")
PYTORCH_WHEEL_INDEX = "https://download.pytorch.org/whl/"


def build_flavour(torch: str, cuda: str | None, hip: str | None, xpu: str | None = None) -> str:
    """A torch's build flavour: its version's local tag where that names one (2.13.0+cpu: cpu),
    else what it was built for (PyPI's Linux wheels may carry no tag: torch.version.cuda 13.0
    is cu130), else cpu."""
    tag = _FLAVOUR.match(torch.partition("+")[2])
    if tag:
        return tag.group()
    if cuda:
        return "cu" + "".join(cuda.split(".")[:2])
    if hip:
        return "rocm" + ".".join(hip.split(".")[:2])
    if xpu:
        return "xpu"
    return "cpu"


def wheel_index(flavour: str) -> str | None:
    """PyTorch's wheel index of a flavour's builds, by its naming; None for one it names not."""
    return PYTORCH_WHEEL_INDEX + flavour if _FLAVOUR.fullmatch(flavour) else None


@dataclass(frozen=True)
class StackInfo:
    """A side of the A/B as it described itself: its Python and torch, interpreter, checkout,
    and the torch's build."""

    python: str
    torch: str  # torch.__version__, its local tag included where it has one: 2.13.0+cpu
    interpreter: str
    root: str
    cuda: str | None = None  # torch.version.cuda: None for a build without CUDA
    # cpu, cu130, rocm6.4, xpu (build_flavour); "" in a record written before it was kept.
    flavour: str = ""

    @property
    def release(self) -> str:
        """The torch version without its local tag: 2.13.0+cpu and 2.13.0+cu130 are 2.13.0."""
        return self.torch.partition("+")[0]

    @property
    def torch_build(self) -> str:
        """The version as torch says it, with the flavour where its tag does not say it."""
        if "+" in self.torch or not self.flavour:
            return self.torch
        return f"{self.torch} ({self.flavour})"

    def to_dict(self) -> JsonObject:
        return {"python": self.python, "torch": self.torch, "interpreter": self.interpreter,
                "root": self.root, "cuda": self.cuda, "flavour": self.flavour}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> StackInfo:
        if not isinstance(data, dict):
            raise ValueError("stacks must be an object of objects")
        python, torch, interpreter, root = (
            str(data.get(key, "")) for key in ("python", "torch", "interpreter", "root")
        )
        cuda = data.get("cuda")
        flavour = data.get("flavour")
        if not isinstance(flavour, str):
            # Written before the flavour was kept: the version's tag says it, or nothing does.
            tag = _FLAVOUR.match(torch.partition("+")[2])
            flavour = tag.group() if tag else ""
        return cls(python, torch, interpreter, root, None if cuda is None else str(cuda), flavour)


@dataclass(frozen=True)
class StackDifference:
    """What tells the candidate's stack from the reference's: a change measured between two
    torch versions of two build flavours (a CPU build against a CUDA one) may come from
    either, so an A/B says so."""

    reference: StackInfo
    candidate: StackInfo

    @property
    def version_differs(self) -> bool:
        return self.reference.release != self.candidate.release

    @property
    def flavour_known(self) -> bool:
        return bool(self.reference.flavour and self.candidate.flavour)

    @property
    def flavour_differs(self) -> bool:
        return self.flavour_known and self.reference.flavour != self.candidate.flavour

    @property
    def python_differs(self) -> bool:
        return self.reference.python != self.candidate.python

    @property
    def like_for_like_index(self) -> str | None:
        """Where the candidate's version in the reference's flavour would be found, if PyTorch
        publishes it: the reference's flavour's wheel index."""
        return wheel_index(self.reference.flavour) if self.flavour_differs else None


@dataclass(frozen=True)
class AbPair:
    """One run of the candidate's repro matrix against the same config's run in the
    reference's."""

    run: str
    level: str  # a-d
    first_bitwise_difference_epoch: int | None
    horizon: int | None
    final_weight: tuple[float, float] | None  # reference's, candidate's
    within_tolerance: bool

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]

    def to_dict(self) -> JsonObject:
        return {
            "run": self.run,
            "level": self.level,
            "level_name": self.level_name,
            "first_bitwise_difference_epoch": self.first_bitwise_difference_epoch,
            "horizon": self.horizon,
            "final_weight": None if self.final_weight is None else list(self.final_weight),
            "within_tolerance": self.within_tolerance,
        }

    @classmethod
    def from_dict(cls, data: Any) -> AbPair:
        if not isinstance(data, dict) or not isinstance(data.get("run"), str):
            raise ValueError("a numeric pair needs a run and a level a-d")
        if data.get("level") not in LEVELS:
            raise ValueError("a numeric pair needs a run and a level a-d")
        weights = data.get("final_weight")
        pair = None
        if isinstance(weights, list) and len(weights) == 2:
            pair = (float(weights[0]), float(weights[1]))
        return cls(
            run=data["run"],
            level=data["level"],
            first_bitwise_difference_epoch=_epoch(data.get("first_bitwise_difference_epoch")),
            horizon=_epoch(data.get("horizon")),
            final_weight=pair,
            within_tolerance=bool(data.get("within_tolerance", data["level"] in ("a", "b"))),
        )


@dataclass(frozen=True)
class NumericVerdict:
    """The worst level over the pairs (the verdict), or why there are none ("not run", "no run
    in common", "no repro results (…)")."""

    verdict: str
    pairs: tuple[AbPair, ...] = ()

    @property
    def verdict_name(self) -> str:
        return LEVEL_NAMES.get(self.verdict, self.verdict)

    @classmethod
    def of(cls, pairs: tuple[AbPair, ...]) -> NumericVerdict:
        if not pairs:
            return cls(NONE_IN_COMMON)
        return cls(max((p.level for p in pairs), key=LEVELS.index), pairs)

    def to_dict(self) -> JsonObject:
        body: dict[str, Any] = {"verdict": self.verdict, "pairs": [p.to_dict() for p in self.pairs]}
        if self.verdict in LEVELS:
            body["verdict_name"] = self.verdict_name
        return body

    @classmethod
    def from_dict(cls, data: Any) -> NumericVerdict:
        if not isinstance(data, dict) or not isinstance(data.get("verdict"), str):
            raise ValueError("numeric must be an object with a verdict")
        if not isinstance(data["pairs"], list):
            raise ValueError("numeric pairs must be a list")
        return cls(data["verdict"], tuple(AbPair.from_dict(p) for p in data["pairs"]))


@dataclass(frozen=True)
class AbResult:
    stacks: Mapping[str, StackInfo]  # by role
    speed: SpeedVerdict | None
    numeric: NumericVerdict
    seconds: float
    failures: tuple[str, ...] = ()

    @property
    def difference(self) -> StackDifference | None:
        """The two stacks side by side; None for a record missing a side."""
        if not all(role in self.stacks for role in ROLES):
            return None
        return StackDifference(self.stacks["reference"], self.stacks["candidate"])

    @property
    def numeric_failures(self) -> list[AbPair]:
        """The pairs beyond tolerance (level c or d): the same config on two stacks must agree
        within tolerance, the rule `linreg compare` applies to two runs."""
        return [p for p in self.numeric.pairs if not p.within_tolerance]

    def to_dict(self) -> JsonObject:
        return {
            "stacks": {role: stack.to_dict() for role, stack in self.stacks.items()},
            "speed": None if self.speed is None else self.speed.to_dict(),
            "numeric": self.numeric.to_dict(),
            "seconds": self.seconds,
            "failures": list(self.failures),
        }

    @classmethod
    def from_dict(cls, data: Any) -> AbResult:
        stacks = data["stacks"]
        if not isinstance(stacks, dict):
            raise ValueError("stacks must be an object of objects")
        speed = data["speed"]
        if isinstance(speed, dict) and "summary" in speed:
            # Stored inside ab.json without a schema version of its own: one that still says
            # its summary in words is of the speed verdict's schema 2.
            speed = speed_verdict.upgrade(speed, 2)
        failures = data.get("failures") or []
        if not isinstance(failures, list):
            raise ValueError("failures must be a list")
        return cls(
            stacks={str(role): StackInfo.from_dict(s) for role, s in stacks.items()},
            speed=None if speed is None else SpeedVerdict.from_dict(speed),
            numeric=NumericVerdict.from_dict(data["numeric"]),
            seconds=float(data.get("seconds") or 0.0),
            failures=tuple(str(f) for f in failures),
        )


def _epoch(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
