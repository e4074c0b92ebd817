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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from linreg.config import TrainConfig
from linreg.env_diff import diff_environments
from linreg.errors import ConfigError
from linreg.results.run_comparison import (
    LEVEL_NAMES,
    LEVELS,
    Comparison,
    Divergence,
    OutcomeBound,
    QuantityDiff,
)
from linreg.run import Run
from linreg.tolerance import Tolerance, Tolerances, looser_dtype
from linreg.ulp import max_ulp

DEFAULT_OUTCOME_STEPS = 3


def first_divergence(
    candidate: Sequence[float], reference: Sequence[float], tol: Tolerance
) -> Divergence:
    if len(candidate) != len(reference):
        raise ValueError(f"sequences differ in length: {len(candidate)} vs {len(reference)}")
    pairs = list(zip(candidate, reference, strict=True))
    bitwise = next((i for i, (c, r) in enumerate(pairs) if c != r), None)
    beyond = None
    if bitwise is not None:
        beyond = next(
            (i for i in range(bitwise, len(pairs)) if not tol.allows(*pairs[i])),
            None,
        )
    return Divergence(bitwise, beyond)


def quantity_diff(
    candidate: Sequence[float], reference: Sequence[float], dtype: str, tol: Tolerance
) -> QuantityDiff:
    pairs = list(zip(candidate, reference, strict=True))
    abs_diffs = [abs(c - r) for c, r in pairs]
    rel = [_rel(d, r) for d, (_, r) in zip(abs_diffs, pairs, strict=True)]
    return QuantityDiff(
        max_abs=max(abs_diffs, default=0.0),
        max_rel=max(rel, default=0.0),
        max_ulp=max_ulp(candidate, reference, dtype),
        bitwise=list(candidate) == list(reference),
        within_tolerance=all(tol.allows(c, r) for c, r in pairs),
    )


def _rel(diff: float, reference: float) -> float:
    if diff == 0:
        return 0.0
    return diff / abs(reference) if reference != 0 else math.inf


def outcome_bound(config: TrainConfig, steps: int = DEFAULT_OUTCOME_STEPS) -> OutcomeBound:
    """How far apart two runs in the limit cycle may end: ``steps`` SGD steps."""
    if steps < 0:
        raise ConfigError("outcome_steps", f"must be >= 0, got {steps!r}")
    x_max = max_abs_x_train(config)
    weight = steps * config.lr * x_max
    bias = steps * config.lr
    return OutcomeBound(steps=steps, weight=weight, bias=bias, loss=x_max * weight + bias)


def max_abs_x_train(config: TrainConfig) -> float:
    """max|x| over the training inputs, from the data's definition (no tensors needed)."""
    if config.samples is not None:
        spacing = (config.stop - config.start) / config.samples
    else:
        spacing = config.step
    last = config.start + (config.train_size - 1) * spacing
    return max(abs(config.start), abs(last))


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
    candidate: Run,
    reference: Run,
    tolerances: Tolerances,
    candidate_label: str = "candidate",
    reference_label: str = "reference",
    outcome_steps: int = DEFAULT_OUTCOME_STEPS,
) -> Comparison:
    """Compare the candidate run with the reference run."""
    hc, hr = candidate.history, reference.history
    if hc.epochs != hr.epochs or hc.test_epochs != hr.test_epochs:
        raise ValueError(
            f"{candidate_label} and {reference_label} have different epochs "
            f"({hc.epochs} vs {hr.epochs}); they cannot be compared epoch by epoch"
        )
    dtype = looser_dtype(candidate.config.dtype, reference.config.dtype)
    tol = tolerances.for_dtype(dtype)
    quantities = {
        "train_loss": quantity_diff(hc.train_loss, hr.train_loss, dtype, tol),
        "test_loss": quantity_diff(hc.test_loss, hr.test_loss, dtype, tol),
        "parameters": quantity_diff(_flat_state(candidate), _flat_state(reference), dtype, tol),
    }
    train_div = first_divergence(hc.train_loss, hr.train_loss, tol)
    test_div = first_divergence(hc.test_loss, hr.test_loss, tol)
    # The test loss at index i was evaluated after the step of epoch test_epochs[i].
    divergence = Divergence(
        bitwise=_earliest(train_div.bitwise, _epoch_of(test_div.bitwise, hc.test_epochs)),
        beyond_tolerance=_earliest(
            train_div.beyond_tolerance, _epoch_of(test_div.beyond_tolerance, hc.test_epochs)
        ),
    )
    horizon = divergence.beyond_tolerance
    end = hc.epochs if horizon is None else horizon
    before = [abs(c - r) for c, r in zip(hc.train_loss[:end], hr.train_loss[:end], strict=True)]
    before_rel = [_rel(d, r) for d, r in zip(before, hr.train_loss[:end], strict=True)]

    bound = outcome_bound(reference.config, outcome_steps)
    final_c, final_r = _final(candidate), _final(reference)
    outcome_equivalent = (
        abs(final_c["weight"] - final_r["weight"]) <= bound.weight
        and abs(final_c["bias"] - final_r["bias"]) <= bound.bias
        and abs(final_c["train_loss"] - final_r["train_loss"]) <= bound.loss
    )
    same_bits = (
        candidate.config.dtype == reference.config.dtype
        and candidate.state_hash == reference.state_hash
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
        candidate_label=candidate_label,
        reference_label=reference_label,
        dtype=dtype,
        tolerance=tol,
        quantities=quantities,
        divergence=divergence,
        horizon=horizon,
        max_abs_before_horizon=max(before, default=0.0),
        max_rel_before_horizon=max(before_rel, default=0.0),
        final_candidate=final_c,
        final_reference=final_r,
        bound=bound,
        outcome_equivalent=outcome_equivalent,
        level=level,
        config_diff=config_diff(candidate.config, reference.config),
        environment_diff=diff_environments(candidate.environment, reference.environment),
    )


def config_diff(candidate: TrainConfig, reference: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """Fields that differ, as (candidate's value, reference's value)."""
    dc, dr = candidate.to_dict(), reference.to_dict()
    return {k: (dc[k], dr[k]) for k in dc if dc[k] != dr[k]}


def _earliest(*epochs: int | None) -> int | None:
    present = [e for e in epochs if e is not None]
    return min(present) if present else None


def _epoch_of(index: int | None, epochs: Sequence[int]) -> int | None:
    return None if index is None else epochs[index]


# A requirement is a minimum level; "b-horizon" sits between b and c: agreement within tolerance
# at least as long as the pair's twin (the CPU one-thread eager run of the same dtype) agrees with
# the float64 reference, its horizon, then outcome equivalence. It asks of another device,
# engine or thread count no more than the dtype itself allows. (The name is stored in manifests
# and checks files: it stays.)
REQUIREMENTS = ("a", "b", "b-horizon", "c", "d")
# What each requirement asks, in words.
REQUIREMENT_MEANINGS = {
    "a": "bit-identical",
    "b": "within tolerance over the whole run",
    "b-horizon": "within tolerance as long as its twin (the CPU one-thread eager run of its "
    "dtype) agrees with float64, the whole run if it always does, then outcome-equivalent",
    "c": "outcome-equivalent",
    "d": "anything",
}


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
    if c.horizon is None:
        # Past the tolerance a ULP count is a number of billions that says only "far apart"; the
        # weight's distance against its bound says how far.
        parts.append(f"max ULP {max(q.max_ulp for q in c.quantities.values())}")
    dw = abs(c.final_candidate["weight"] - c.final_reference["weight"])
    parts.append(f"final |Δw| {dw:.3g} (bound {c.bound.weight:.3g})")
    return "; ".join(parts)
