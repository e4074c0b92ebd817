"""The rules a target's runs are judged by, quantity by quantity (a loss curve, a final
parameter or buffer), as pure numerics over their values.

- **bitwise**: the same config on the same stack gives the same bits, or it is nondeterministic.
- **rms** (a dtype's twin: its CPU, one-thread eager run): within the dtype's tolerance of the
  float64 run by root-mean-square error, ``RMSE(twin, fp64) <= atol + rtol * RMS(fp64)``: the
  elementwise rule of ``torch.testing.assert_close`` carried to the whole tensor, where a few
  elements that rounding moved far (Adam's update of a near-zero gradient flips its sign) do not
  decide alone.
- **fp64** (every other run: another thread count, engine or device): as
  ``torch._dynamo.utils.same`` judges with its ``fp64_ref``: within the elementwise tolerance
  of its twin, or no further from float64 than ``multiplier`` times the twin's own error plus
  the tolerance, ``RMSE(run, fp64) <= multiplier * RMSE(twin, fp64) + atol + rtol * RMS(fp64)``.
  A run is asked for no more agreement with float64 than its dtype allows on the CPU.

Integer tensors (BatchNorm's ``num_batches_tracked``) must be equal under every rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from linreg.results.target_repro_checks import QuantityFigures
from linreg.target_run import TargetRun
from linreg.tolerance import Tolerance

TRAIN_LOSS = "train loss"
EVAL_LOSS = "eval loss"


def rmse(candidate: torch.Tensor, reference: torch.Tensor) -> float:
    difference = candidate.to(torch.float64) - reference.to(torch.float64)
    return float(difference.square().mean().sqrt()) if difference.numel() else 0.0


def rms(values: torch.Tensor) -> float:
    values = values.to(torch.float64)
    return float(values.square().mean().sqrt()) if values.numel() else 0.0


def figures(
    quantity: str,
    candidate: torch.Tensor,
    reference: torch.Tensor,
    tolerance: Tolerance,
    twin: torch.Tensor | None = None,
    multiplier: float = 3.0,
    steps: Sequence[int] | None = None,
) -> QuantityFigures:
    """One quantity judged against the float64 reference: by the rms rule where ``twin`` is
    None (the candidate is the twin), else by the fp64 rule. ``steps``: a curve's steps, one
    per value (its first step beyond the elementwise tolerance is then named)."""
    rule = "rms" if twin is None else "fp64"
    candidate, reference = candidate.detach().cpu(), reference.detach().cpu()
    if tuple(candidate.shape) != tuple(reference.shape):
        note = f"shape {tuple(candidate.shape)}, float64's {tuple(reference.shape)}"
        return QuantityFigures(quantity, rule, False, note=note)
    if not candidate.is_floating_point() or not reference.is_floating_point():
        same = bool(torch.equal(candidate.to(torch.int64), reference.to(torch.int64)))
        return QuantityFigures(quantity, rule, same, note=None if same else "integers differ")
    c, r = candidate.to(torch.float64), reference.to(torch.float64)
    error, scale = rmse(c, r), rms(r)
    bound = tolerance.atol + tolerance.rtol * scale
    max_abs = float((c - r).abs().max()) if c.numel() else 0.0
    beyond = _first_beyond(c, r, tolerance) if steps is not None else None
    first_step = None if beyond is None or steps is None else steps[beyond]
    relative = error / scale if scale > 0 else None
    if twin is None:
        holds = error <= bound
        return QuantityFigures(quantity, rule, holds, error, relative, None, bound, max_abs,
                               first_step)  # fmt: skip
    t = twin.detach().cpu().to(torch.float64)
    if tuple(t.shape) != tuple(r.shape):
        note = f"its twin's shape {tuple(t.shape)}, float64's {tuple(r.shape)}"
        return QuantityFigures(quantity, rule, False, note=note)
    twin_error = rmse(t, r)
    allowed = multiplier * twin_error + bound
    within_twin = bool(torch.allclose(c, t, rtol=tolerance.rtol, atol=tolerance.atol))
    holds = within_twin or error <= allowed
    note = "within the tolerance of its twin" if within_twin else None
    return QuantityFigures(quantity, rule, holds, error, relative, twin_error, allowed, max_abs,
                           first_step, note)  # fmt: skip


def _first_beyond(c: torch.Tensor, r: torch.Tensor, tolerance: Tolerance) -> int | None:
    beyond = ((c - r).abs() > tolerance.atol + tolerance.rtol * r.abs()).reshape(-1)
    return int(beyond.nonzero()[0, 0]) if bool(beyond.any()) else None


def run_figures(
    candidate: TargetRun,
    candidate_state: Mapping[str, torch.Tensor],
    reference: TargetRun,
    reference_state: Mapping[str, torch.Tensor],
    tolerance: Tolerance,
    twin: tuple[TargetRun, Mapping[str, torch.Tensor]] | None = None,
    multiplier: float = 3.0,
) -> list[QuantityFigures]:
    """Every quantity of two runs: the train loss curve, the eval loss curve (where both
    evaluated), then each tensor of the final state in the state_dict's order."""

    def curve(run: TargetRun, name: str) -> torch.Tensor:
        values = run.train_loss if name == TRAIN_LOSS else run.eval_loss
        return torch.tensor(values, dtype=torch.float64)

    out = []
    curves = [(TRAIN_LOSS, range(reference.steps))]
    if reference.eval_loss and candidate.eval_loss:
        curves.append((EVAL_LOSS, reference.eval_steps))
    for name, steps in curves:
        twin_values = None if twin is None else curve(twin[0], name)
        out.append(figures(name, curve(candidate, name), curve(reference, name), tolerance,
                           twin_values, multiplier, steps))  # fmt: skip
    for name, ref_tensor in reference_state.items():
        if name not in candidate_state:
            out.append(QuantityFigures(name, "rms" if twin is None else "fp64", False,
                                       note="missing from the run's model.pth"))  # fmt: skip
            continue
        twin_tensor = None if twin is None else twin[1].get(name)
        if twin is not None and twin_tensor is None:
            out.append(QuantityFigures(name, "fp64", False, note="missing from its twin"))
            continue
        out.append(figures(name, candidate_state[name], ref_tensor, tolerance, twin_tensor,
                           multiplier))  # fmt: skip
    return out


def worst(quantities: Sequence[QuantityFigures]) -> QuantityFigures | None:
    """The quantity nearest its bound (or past it): the one a verdict's line names."""

    def share(q: QuantityFigures) -> float:
        if q.note is not None and not q.holds:
            return math.inf
        if q.error is None or q.allowed is None:
            return 0.0
        return q.error / q.allowed if q.allowed > 0 else (math.inf if q.error > 0 else 0.0)

    return max(quantities, key=share, default=None)


def record_difference(candidate: TargetRun, reference: TargetRun) -> tuple[str, int | None] | None:
    """Where two records of one config first differ, by their histories and digests: (the
    quantity in words, the step or None); None where every loss and every tensor's bits agree.
    A replay says which quantity of which step parted first; this is what the records show."""
    for step, (c, r) in enumerate(zip(candidate.train_loss, reference.train_loss, strict=False)):
        if c != r:
            return f"the train loss ({c!r} and {r!r})", step
    if len(candidate.train_loss) != len(reference.train_loss):
        return "the number of steps", None
    if candidate.eval_steps != reference.eval_steps:
        return "the eval steps", None
    for step, c, r in zip(candidate.eval_steps, candidate.eval_loss, reference.eval_loss,
                          strict=True):  # fmt: skip
        if c != r:
            return f"the eval loss ({c!r} and {r!r})", step
    for name, digest in reference.parameters.items():
        if candidate.parameters.get(name) != digest:
            return f"the trained {name}", None
    if set(candidate.parameters) != set(reference.parameters):
        return "the names of the trained tensors", None
    return None


def first_loss_difference(candidate: TargetRun, reference: TargetRun) -> int | None:
    """The first step whose train loss differs in its bits; None where none does."""
    for step, (c, r) in enumerate(zip(candidate.train_loss, reference.train_loss, strict=False)):
        if c != r:
            return step
    return None
