"""Which quantity of two replayed runs diverged first, and the op that produced it.

Two runs of one dtype that are not bit-identical part at one epoch, in one quantity: walking the
epochs, and within an epoch the quantities in the order the step computes them (forward output,
residual, loss, gradients, parameters after the step), the first that differs is the cause and
the op that computed it is named.

Runs of two dtypes differ from the first epoch by rounding alone; what is explained for them is
the horizon: for L1, the residual whose sign flipped (its gradient is a sign, so one flipped sign
moves the weight's gradient by 2·x/N and sends the runs into different limit cycles), and the
first quantity that then leaves the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from linreg.engines.trace import QUANTITIES, VECTORS, Trace
from linreg.results.repro_checks import PairExplanation
from linreg.results.run_comparison import Comparison
from linreg.run import Run
from linreg.tolerance import Tolerance
from linreg.ulp import ulp_distances

# Each quantity's op, by engine; the loss and the update say the config's own loss and optimizer.
_FORWARD = {
    "eager": "linear's matmul and add (addmm)",
    "compiled": "w·x + b inside the one compiled step",
    "batched": "w·x, then + b (two roundings, as addmm)",
}
_GRAD_WEIGHT = {
    "eager": "the loss's backward then linear's matmul backward, Xᵀ·g (a sum over the samples)",
    "compiled": "mean(g·x) inside the one compiled step (a sum over the samples)",
    "batched": "Σ g·x per member, summed as eager's BLAS sums it",
}
_GRAD_BIAS = {
    "eager": "linear's add backward, Σ g over the samples",
    "compiled": "mean(g) inside the one compiled step",
    "batched": "Σ g over the samples",
}


def op_of(quantity: str, config: dict[str, Any], samples: int) -> str:
    """The op that computes ``quantity`` in this config's step, in words."""
    engine = config.get("engine", "eager")
    loss = "L1" if config.get("loss", "l1") == "l1" else "MSE"
    if quantity == "prediction":
        return _FORWARD.get(engine, "the forward pass")
    if quantity == "residual":
        return f"ŷ − y, the {loss} loss's subtraction"
    if quantity == "loss":
        what = "|ŷ − y|" if loss == "L1" else "(ŷ − y)²"
        where = " inside the one compiled step" if engine == "compiled" else ""
        return f"the {loss} mean of {what}{where} (a reduction over {samples:,} samples)"
    if quantity == "grad linear.weight":
        return _GRAD_WEIGHT.get(engine, "the weight's gradient")
    if quantity == "grad linear.bias":
        return _GRAD_BIAS.get(engine, "the bias's gradient")
    optimizer = config.get("optimizer", "sgd")
    if optimizer == "sgd" and not config.get("momentum"):
        return "the SGD update, p − lr·grad"
    return f"the {optimizer} update"


def _words(quantity: str) -> str:
    return {
        "prediction": "the forward output ŷ",
        "residual": "the residual ŷ − y",
        "loss": "the loss",
    }.get(quantity, quantity.replace("grad ", "the gradient of ") if "grad" in quantity else
          f"{quantity} after the step")  # fmt: skip


def ulps(candidate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-element distance in representable values of the tensors' (common) dtype."""
    width = {2: torch.int16, 4: torch.int32, 8: torch.int64}[candidate.element_size()]

    def ordered(t: torch.Tensor) -> torch.Tensor:
        bits = t.contiguous().view(width).to(torch.int64)
        sign = 1 << (candidate.element_size() * 8 - 1)
        return torch.where(bits < 0, -(bits + sign), bits)

    return (ordered(candidate) - ordered(reference)).abs()


@dataclass(frozen=True)
class FirstDifference:
    """Where two runs of one dtype part: the epoch, the quantity, the op, by how much."""

    epoch: int
    quantity: str
    op: str
    ulps: int | None  # the largest, over the quantity's elements; None where values unknown
    max_abs: float | None
    sample: int | None  # for per-sample quantities: the first sample that differs
    candidate: float | None  # the values there (the sample's, or the scalar's)
    reference: float | None
    agreed: tuple[str, ...]  # quantities of that epoch computed before it, bit for bit equal
    unseen: tuple[str, ...]  # quantities one side's engine does not expose
    dtype: str = "float64"  # the values' own: what their digits are written to

    @property
    def line(self) -> str:
        where = f" of sample {self.sample}" if self.sample is not None else ""
        text = f"epoch {self.epoch}: {_words(self.quantity)}{where} differs first"
        if self.ulps is not None:
            digits = 17 if self.dtype == "float64" else 9
            text += (
                f", by {self.ulps} ULP ({_g(self.candidate, digits)} vs "
                f"{_g(self.reference, digits)}),"
                if self.ulps
                else ""
            )
        text += f" from {self.op}"
        if self.agreed:
            text += f"; {', '.join(_short(q) for q in self.agreed)} agree bit for bit"
        if self.unseen:
            text += f" ({', '.join(_short(q) for q in self.unseen)} not observable)"
        return text

    def record(self) -> PairExplanation:
        return PairExplanation("first difference", self.line, self.epoch, self.quantity,
                               self.op, self.ulps, self.sample, self.candidate, self.reference,
                               self.max_abs)  # fmt: skip


@dataclass(frozen=True)
class HorizonCause:
    """Why two runs of two dtypes leave the tolerance: the residual whose sign flipped first,
    and the first quantity beyond the tolerance."""

    flip_epoch: int | None
    sample: int | None
    candidate_dtype: str
    reference_dtype: str
    candidate_residual: float | None
    reference_residual: float | None
    beyond_epoch: int | None
    beyond_quantity: str | None
    beyond_by: float | None
    op: str | None

    @property
    def line(self) -> str:
        parts = []
        if self.flip_epoch is not None:
            parts.append(
                f"epoch {self.flip_epoch}: the residual of sample {self.sample} is "
                f"{_g(self.candidate_residual)} in {self.candidate_dtype} and "
                f"{_g(self.reference_residual)} in {self.reference_dtype}"
            )
        if self.beyond_quantity is not None:
            then = "then " if parts else f"epoch {self.beyond_epoch}: "
            at = (
                f" at epoch {self.beyond_epoch}"
                if parts and self.beyond_epoch != self.flip_epoch
                else ""
            )
            parts.append(
                f"{then}{_words(self.beyond_quantity)} differs by {_g(self.beyond_by)}{at}, "
                f"beyond the tolerance ({self.op})"
            )
        return "; ".join(parts) or "no quantity leaves the tolerance in the replay"

    def record(self) -> PairExplanation:
        epoch = self.flip_epoch if self.flip_epoch is not None else self.beyond_epoch
        return PairExplanation("horizon", self.line, epoch, self.beyond_quantity, self.op,
                               sample=self.sample, candidate=self.candidate_residual,
                               reference=self.reference_residual,
                               max_abs=self.beyond_by)  # fmt: skip


@dataclass(frozen=True)
class NotReproduced:
    """The replays agree where the stored runs do not: the difference is not the ops' (another
    process's nondeterminism, or a stack that is not here)."""

    epochs: int

    @property
    def line(self) -> str:
        return (
            f"the replays agree bit for bit up to epoch {self.epochs - 1}: the stored runs' "
            "difference does not come back in one process each (nondeterministic ops?)"
        )

    def record(self) -> PairExplanation:
        return PairExplanation("not reproduced", self.line, self.epochs)


Explanation = FirstDifference | HorizonCause | NotReproduced


def _g(value: float | None, digits: int = 6) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _short(quantity: str) -> str:
    return {"prediction": "ŷ", "residual": "ŷ − y"}.get(quantity, quantity)


def first_difference(candidate: Trace, reference: Trace) -> FirstDifference | NotReproduced:
    """The first (epoch, quantity) whose bits differ between two traces of one dtype."""
    samples = candidate.targets.numel()
    for epoch in range(min(candidate.epochs, reference.epochs)):
        agreed, unseen = [], []
        for quantity in QUANTITIES:
            c = candidate.values[epoch].get(quantity)
            r = reference.values[epoch].get(quantity)
            if c is None or r is None:
                if quantity in VECTORS:
                    dc = candidate.digests[epoch].get(quantity)
                    dr = reference.digests[epoch].get(quantity)
                    if dc is not None and dr is not None:
                        if dc != dr:  # known to differ, values not kept
                            return FirstDifference(
                                epoch, quantity, op_of(quantity, candidate.config, samples),
                                None, None, None, None, None, tuple(agreed), tuple(unseen),
                                candidate.dtype,
                            )  # fmt: skip
                        agreed.append(quantity)
                        continue
                unseen.append(quantity)
                continue
            if c.shape == r.shape and torch.equal(c, r):
                agreed.append(quantity)
                continue
            return _difference(epoch, quantity, c, r, candidate, samples, agreed, unseen)
    return NotReproduced(min(candidate.epochs, reference.epochs))


def _difference(epoch, quantity, c, r, trace, samples, agreed, unseen) -> FirstDifference:
    config = trace.config
    if c.shape != r.shape:
        return FirstDifference(epoch, quantity, op_of(quantity, config, samples), None, None,
                               None, None, None, tuple(agreed), tuple(unseen),
                               trace.dtype)  # fmt: skip
    distance = ulps(c, r)
    differing = (c != r).nonzero()
    index = int(differing[0, 0]) if len(differing) else 0
    sample = index if quantity in VECTORS else None
    return FirstDifference(
        epoch=epoch,
        quantity=quantity,
        op=op_of(quantity, config, samples),
        ulps=int(distance.max()),
        max_abs=float((c.double() - r.double()).abs().max()),
        sample=sample,
        candidate=float(c[index]),
        reference=float(r[index]),
        agreed=tuple(agreed),
        unseen=tuple(unseen),
        dtype=trace.dtype,
    )


def horizon_cause(candidate: Trace, reference: Trace, tolerance: Tolerance) -> HorizonCause:
    """For two dtypes: the first residual sign flip (L1) and the first quantity beyond the
    tolerance, compared in float64."""
    samples = candidate.targets.numel()
    flip = None
    beyond = None
    for epoch in range(min(candidate.epochs, reference.epochs)):
        c_values, r_values = candidate.values[epoch], reference.values[epoch]
        if flip is None and candidate.config.get("loss", "l1") == "l1":
            c, r = c_values.get("residual"), r_values.get("residual")
            if c is not None and r is not None:
                flipped = (torch.sign(c.double()) != torch.sign(r.double())).nonzero()
                if len(flipped):
                    i = int(flipped[0, 0])
                    flip = (epoch, i, float(c[i]), float(r[i]))
        if beyond is None:
            for quantity in QUANTITIES:
                if quantity == "residual":
                    continue  # its sign is the story, its size is within rounding of ŷ's
                c, r = c_values.get(quantity), r_values.get(quantity)
                if c is None or r is None or c.shape != r.shape:
                    continue
                gap = (c.double() - r.double()).abs()
                allowed = tolerance.atol + tolerance.rtol * r.double().abs()
                if bool((gap > allowed).any()):
                    beyond = (epoch, quantity, float(gap.max()))
                    break
        if beyond is not None and (flip is not None or candidate.config.get("loss") == "mse"):
            break
    return HorizonCause(
        flip_epoch=None if flip is None else flip[0],
        sample=None if flip is None else flip[1],
        candidate_dtype=candidate.dtype,
        reference_dtype=reference.dtype,
        candidate_residual=None if flip is None else flip[2],
        reference_residual=None if flip is None else flip[3],
        beyond_epoch=None if beyond is None else beyond[0],
        beyond_quantity=None if beyond is None else beyond[1],
        beyond_by=None if beyond is None else beyond[2],
        op=None if beyond is None else op_of(beyond[1], candidate.config, samples),
    )


def explain(candidate: Trace, reference: Trace, tolerance: Tolerance) -> Explanation:
    """The first difference of two runs of one dtype; the horizon's cause for two dtypes."""
    if candidate.dtype != reference.dtype:
        return horizon_cause(candidate, reference, tolerance)
    return first_difference(candidate, reference)


def replay_epoch(comparison: Comparison, epochs: int) -> int | None:
    """How far a pair must be replayed to see why it parts: to the horizon for two dtypes
    (None: it never leaves the tolerance, nothing to explain), to the first differing epoch of
    the histories for one (the last epoch where only the parameters differ)."""
    if "dtype" in comparison.config_diff:
        return comparison.horizon
    bitwise = comparison.divergence.bitwise
    return epochs - 1 if bitwise is None else bitwise


def history_difference(candidate: Run, reference: Run) -> FirstDifference | None:
    """Where a run parts from a stored one that cannot be replayed here (a golden reference,
    another stack's run): the first epoch whose train loss differs, from the histories."""
    if candidate.config.dtype != reference.config.dtype:
        return None
    pairs = zip(candidate.history.train_loss, reference.history.train_loss, strict=False)
    for epoch, (c, r) in enumerate(pairs):
        if c != r:
            [distance] = ulp_distances([c], [r], candidate.config.dtype)
            samples = candidate.config.train_size
            return FirstDifference(
                epoch, "loss", op_of("loss", candidate.config.to_dict(), samples), distance,
                abs(c - r), None, c, r, (),
                ("the reference's intermediates: it is stored, not replayed",),
                candidate.config.dtype,
            )  # fmt: skip
    return None
