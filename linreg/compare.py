"""Comparison of two runs: differences per quantity, divergence, verdict level, fingerprint diff.

L1's gradient is a sign, so SGD at a fixed lr ends in a limit cycle around the optimum: the
smallest rounding difference eventually flips a sign and two runs settle into different cycles.
Final bits cannot agree across dtypes; what can is (b) agreement within tolerance up to a
horizon and (c) outcomes within a bound the dynamics impose. Verdict levels:

- ``a`` bit-identical histories and parameters;
- ``b`` within tolerance over the whole history and the final parameters;
- ``c`` outcome-equivalent: final parameters and loss within ``outcome_steps`` SGD steps
  (one step moves w by at most lr·max|x| and b by at most lr; L1 loss then moves by at most
  max|x|·Δw + Δb);
- ``d`` different.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from linreg.config import TrainConfig
from linreg.env import diff_environments
from linreg.errors import ConfigError
from linreg.run import Run
from linreg.tolerance import Tolerance, Tolerances, looser_dtype
from linreg.ulp import max_ulp

LEVELS = ("a", "b", "c", "d")
LEVEL_NAMES = {
    "a": "bit-identical",
    "b": "within tolerance",
    "c": "outcome-equivalent",
    "d": "different",
}
DEFAULT_OUTCOME_STEPS = 3


@dataclass(frozen=True)
class Divergence:
    """First index where two sequences differ at all, and first beyond tolerance (None: never)."""

    bitwise: int | None
    beyond_tolerance: int | None


def first_divergence(a: Sequence[float], b: Sequence[float], tol: Tolerance) -> Divergence:
    if len(a) != len(b):
        raise ValueError(f"sequences differ in length: {len(a)} vs {len(b)}")
    bitwise = next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), None)
    beyond = None
    if bitwise is not None:
        beyond = next(
            (i for i in range(bitwise, len(a)) if not tol.allows(a[i], b[i])),
            None,
        )
    return Divergence(bitwise, beyond)


@dataclass(frozen=True)
class QuantityDiff:
    """Max absolute, relative (to b) and ULP difference of one quantity."""

    max_abs: float
    max_rel: float
    max_ulp: int
    bitwise: bool
    within_tolerance: bool

    @classmethod
    def of(cls, a: Sequence[float], b: Sequence[float], dtype: str, tol: Tolerance) -> QuantityDiff:
        abs_diffs = [abs(x - y) for x, y in zip(a, b, strict=True)]
        rel = [_rel(d, y) for d, y in zip(abs_diffs, b, strict=True)]
        return cls(
            max_abs=max(abs_diffs, default=0.0),
            max_rel=max(rel, default=0.0),
            max_ulp=max_ulp(a, b, dtype),
            bitwise=list(a) == list(b),
            within_tolerance=all(tol.allows(x, y) for x, y in zip(a, b, strict=True)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_abs": self.max_abs,
            "max_rel": _json_float(self.max_rel),
            "max_ulp": self.max_ulp,
            "bitwise": self.bitwise,
            "within_tolerance": self.within_tolerance,
        }


def _rel(diff: float, reference: float) -> float:
    if diff == 0:
        return 0.0
    return diff / abs(reference) if reference != 0 else math.inf


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class OutcomeBound:
    """How far apart two runs in the limit cycle may end: ``steps`` SGD steps."""

    steps: int
    weight: float
    bias: float
    loss: float

    @classmethod
    def for_config(cls, config: TrainConfig, steps: int = DEFAULT_OUTCOME_STEPS) -> OutcomeBound:
        if steps < 0:
            raise ConfigError("outcome_steps", f"must be >= 0, got {steps!r}")
        x_max = max_abs_x_train(config)
        weight = steps * config.lr * x_max
        bias = steps * config.lr
        return cls(steps=steps, weight=weight, bias=bias, loss=x_max * weight + bias)


def max_abs_x_train(config: TrainConfig) -> float:
    """max|x| over the training inputs, from the data's definition (no tensors needed)."""
    if config.samples is not None:
        spacing = (config.stop - config.start) / config.samples
    else:
        spacing = config.step
    last = config.start + (config.train_size - 1) * spacing
    return max(abs(config.start), abs(last))


@dataclass(frozen=True)
class Comparison:
    """Run a against run b (b is the reference: relative differences are taken to b)."""

    label_a: str
    label_b: str
    dtype: str
    tolerance: Tolerance
    quantities: dict[str, QuantityDiff]
    divergence: Divergence
    horizon: int | None
    max_abs_before_horizon: float
    max_rel_before_horizon: float
    final_a: dict[str, float]
    final_b: dict[str, float]
    bound: OutcomeBound
    outcome_equivalent: bool
    level: str
    config_diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    environment_diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def bitwise(self) -> bool:
        return self.level == "a"

    @property
    def within_tolerance(self) -> bool:
        return self.level in ("a", "b")

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.label_a,
            "b": self.label_b,
            "dtype": self.dtype,
            "tolerance": {"rtol": self.tolerance.rtol, "atol": self.tolerance.atol},
            "level": self.level,
            "level_name": LEVEL_NAMES[self.level],
            "first_bitwise_difference_epoch": self.divergence.bitwise,
            "horizon": self.horizon,
            "max_abs_before_horizon": self.max_abs_before_horizon,
            "max_rel_before_horizon": _json_float(self.max_rel_before_horizon),
            "final_a": self.final_a,
            "final_b": self.final_b,
            "outcome_bound": {
                "steps": self.bound.steps,
                "weight": self.bound.weight,
                "bias": self.bound.bias,
                "loss": self.bound.loss,
            },
            "outcome_equivalent": self.outcome_equivalent,
            "quantities": {k: v.to_dict() for k, v in self.quantities.items()},
            "config_diff": {k: list(v) for k, v in self.config_diff.items()},
            "environment_diff": {k: list(v) for k, v in self.environment_diff.items()},
        }


def _flat_state(run: Run) -> list[float]:
    return [v for name in sorted(run.final_state) for v in run.final_state[name]["values"]]


def _final(run: Run) -> dict[str, float]:
    return {
        "weight": run.final_weight,
        "bias": run.final_bias,
        "train_loss": run.history.train_loss[-1],
        "test_loss": run.history.test_loss[-1] if run.history.test_loss else math.nan,
    }


def compare_runs(
    a: Run,
    b: Run,
    tolerances: Tolerances,
    label_a: str = "a",
    label_b: str = "b",
    outcome_steps: int = DEFAULT_OUTCOME_STEPS,
) -> Comparison:
    """Compare run a with the reference run b."""
    if a.history.epochs != b.history.epochs or a.history.test_epochs != b.history.test_epochs:
        raise ValueError(
            f"{label_a} and {label_b} have different epochs "
            f"({a.history.epochs} vs {b.history.epochs}); they cannot be compared epoch by epoch"
        )
    dtype = looser_dtype(a.config.dtype, b.config.dtype)
    tol = tolerances.for_dtype(dtype)
    ha, hb = a.history, b.history
    quantities = {
        "train_loss": QuantityDiff.of(ha.train_loss, hb.train_loss, dtype, tol),
        "test_loss": QuantityDiff.of(ha.test_loss, hb.test_loss, dtype, tol),
        "parameters": QuantityDiff.of(_flat_state(a), _flat_state(b), dtype, tol),
    }
    train_div = first_divergence(ha.train_loss, hb.train_loss, tol)
    test_div = first_divergence(ha.test_loss, hb.test_loss, tol)
    # The test loss at index i was evaluated after the step of epoch test_epochs[i].
    divergence = Divergence(
        bitwise=_earliest(train_div.bitwise, _epoch_of(test_div.bitwise, ha.test_epochs)),
        beyond_tolerance=_earliest(
            train_div.beyond_tolerance, _epoch_of(test_div.beyond_tolerance, ha.test_epochs)
        ),
    )
    horizon = divergence.beyond_tolerance
    end = ha.epochs if horizon is None else horizon
    before = [abs(x - y) for x, y in zip(ha.train_loss[:end], hb.train_loss[:end], strict=True)]
    before_rel = [_rel(d, y) for d, y in zip(before, hb.train_loss[:end], strict=True)]

    bound = OutcomeBound.for_config(b.config, outcome_steps)
    final_a, final_b = _final(a), _final(b)
    outcome_equivalent = (
        abs(final_a["weight"] - final_b["weight"]) <= bound.weight
        and abs(final_a["bias"] - final_b["bias"]) <= bound.bias
        and abs(final_a["train_loss"] - final_b["train_loss"]) <= bound.loss
    )
    same_bits = (
        a.config.dtype == b.config.dtype
        and a.state_hash == b.state_hash
        and all(q.bitwise for q in quantities.values())
    )
    if same_bits:
        level = "a"
    elif horizon is None and quantities["parameters"].within_tolerance:
        level = "b"
    elif outcome_equivalent:
        level = "c"
    else:
        level = "d"
    return Comparison(
        label_a=label_a,
        label_b=label_b,
        dtype=dtype,
        tolerance=tol,
        quantities=quantities,
        divergence=divergence,
        horizon=horizon,
        max_abs_before_horizon=max(before, default=0.0),
        max_rel_before_horizon=max(before_rel, default=0.0),
        final_a=final_a,
        final_b=final_b,
        bound=bound,
        outcome_equivalent=outcome_equivalent,
        level=level,
        config_diff=config_diff(a.config, b.config),
        environment_diff=diff_environments(a.environment, b.environment),
    )


def compare_states(
    a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], tolerances: Tolerances
) -> QuantityDiff:
    """Two state_dicts (e.g. checkpoints from different devices or dtypes), value by value."""
    if sorted(a) != sorted(b):
        raise ValueError(f"state_dicts hold different tensors: {sorted(a)} vs {sorted(b)}")
    names = sorted(a)
    dtype = looser_dtype(*(str(t.dtype).removeprefix("torch.") for t in (a[names[0]], b[names[0]])))
    values_a = [v for n in names for v in a[n].detach().cpu().double().reshape(-1).tolist()]
    values_b = [v for n in names for v in b[n].detach().cpu().double().reshape(-1).tolist()]
    return QuantityDiff.of(values_a, values_b, dtype, tolerances.for_dtype(dtype))


def config_diff(a: TrainConfig, b: TrainConfig) -> dict[str, tuple[Any, Any]]:
    da, db = a.to_dict(), b.to_dict()
    return {k: (da[k], db[k]) for k in da if da[k] != db[k]}


def _earliest(*epochs: int | None) -> int | None:
    present = [e for e in epochs if e is not None]
    return min(present) if present else None


def _epoch_of(index: int | None, epochs: Sequence[int]) -> int | None:
    return None if index is None else epochs[index]


# A requirement is a minimum level; "b-horizon" asks for agreement within tolerance at least as
# long as the reference pair's horizon, then outcome equivalence.
REQUIREMENTS = ("a", "b", "b-horizon", "c", "d")


@dataclass(frozen=True)
class Verdict:
    holds: bool
    reason: str


def meets(
    comparison: Comparison, requirement: str, reference_horizon: int | None = None
) -> Verdict:
    """Whether ``comparison`` reaches ``requirement``; the reason says by how much it misses."""
    level = comparison.level
    if requirement == "b-horizon":
        if level == "d":
            return Verdict(False, _miss(comparison, "outcome-equivalent"))
        if reference_horizon is not None and (
            comparison.horizon is None or comparison.horizon >= reference_horizon
        ):
            return Verdict(True, f"level {level}")
        if reference_horizon is None and comparison.horizon is None:
            return Verdict(True, f"level {level}")
        want = "the whole run" if reference_horizon is None else f"epoch {reference_horizon}"
        return Verdict(
            False,
            f"beyond tolerance from epoch {comparison.horizon}, the reference agrees until {want}",
        )
    if LEVELS.index(level) <= LEVELS.index(requirement):
        return Verdict(True, f"level {level}")
    return Verdict(False, _miss(comparison, LEVEL_NAMES[requirement]))


def _miss(c: Comparison, wanted: str) -> str:
    parts = [f"level {c.level} ({LEVEL_NAMES[c.level]}), required {wanted}"]
    if c.divergence.bitwise is not None:
        parts.append(f"first differing epoch {c.divergence.bitwise}")
    if c.horizon is not None:
        parts.append(f"beyond tolerance from epoch {c.horizon}")
    parts.append(f"max ULP {max(q.max_ulp for q in c.quantities.values())}")
    dw = abs(c.final_a["weight"] - c.final_b["weight"])
    parts.append(f"final |Δw| {dw:.3g} (bound {c.bound.weight:.3g})")
    return "; ".join(parts)
