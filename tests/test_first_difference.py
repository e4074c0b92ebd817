"""Which quantity of two runs diverged first: replayed epoch by epoch, the first quantity (in
the order the step computes them) that differs, and the op that produced it; for two dtypes, the
residual whose sign flipped and what then left the tolerance."""

from __future__ import annotations

import pytest
import torch

from linreg.cli import main
from linreg.compare.first_difference import (
    FirstDifference,
    HorizonCause,
    NotReproduced,
    explain,
    first_difference,
    history_difference,
    op_of,
)
from linreg.compare.runs import compare_runs
from linreg.config import TrainConfig
from linreg.engines import train
from linreg.engines.compiled import compiler_problem
from linreg.engines.trace import QUANTITIES, VECTORS, Trace, trace
from linreg.paths import REFERENCE_DIR
from linreg.results.load import load_run
from linreg.tolerance import default_tolerances, looser_dtype

TOLERANCES = default_tolerances()
FLOAT32 = TrainConfig(threads=1)
FLOAT64 = TrainConfig(dtype="float64", threads=1)


def test_a_replay_reproduces_its_run_bit_for_bit_with_every_engine():
    engines = ["eager", "batched"] + ([] if compiler_problem("cpu") else ["compiled"])
    for engine in engines:
        config = TrainConfig(threads=1, engine=engine, epochs=60)
        replayed = trace(config, 59)
        losses = [float(v["loss"][0]) for v in replayed.values]
        assert losses == list(train(config).history.train_loss), engine
        # Every quantity of the step is seen, the compiled graph's through its traced twin.
        assert all(v is not None for v in replayed.values[30].values()), engine


def test_float32_and_float64_part_where_a_residual_changes_sign():
    # The stored golden references say where the two dtypes leave the tolerance.
    ref32 = load_run(REFERENCE_DIR / "cpu-float32-seed42-threads1-eager.json")
    ref64 = load_run(REFERENCE_DIR / "cpu-float64-seed42-threads1-eager.json")
    horizon = compare_runs(ref32, ref64, TOLERANCES).horizon
    assert horizon is not None
    cause = explain(trace(FLOAT32, horizon), trace(FLOAT64, horizon),
                    TOLERANCES.for_dtype(looser_dtype("float32", "float64")))  # fmt: skip
    assert isinstance(cause, HorizonCause)
    # The loss of the horizon's epoch is computed from the step before it: the flip is there.
    assert cause.flip_epoch == horizon - 1
    assert (cause.candidate_residual > 0) != (cause.reference_residual > 0)
    assert cause.beyond_quantity == "grad linear.weight" and cause.beyond_epoch == horizon - 1
    # One flipped sign moves mean(sign(r)·x) by 2·x/N: the flipped sample's own x.
    x = 0.02 * cause.sample
    assert cause.beyond_by == pytest.approx(2 * x / FLOAT32.train_size, rel=1e-5)
    assert cause.line.startswith(f"epoch {horizon - 1}: the residual of sample {cause.sample} is")
    assert "in float32 and" in cause.line and "matmul backward" in cause.line


def _bits_differ(candidate: Trace, reference: Trace, epoch: int, quantity: str) -> bool | None:
    """Whether the quantity's bits differ at the epoch (None: not observed on both sides)."""
    c, r = candidate.values[epoch].get(quantity), reference.values[epoch].get(quantity)
    if c is not None and r is not None:
        return c.shape != r.shape or not torch.equal(c, r)
    digests = [t.digests[epoch].get(quantity) if quantity in VECTORS else None
               for t in (candidate, reference)]  # fmt: skip
    return None if None in digests else digests[0] != digests[1]


def test_one_and_two_threads_at_a_million_samples_part_where_their_replays_first_differ():
    # Which quantity that is depends on the host's kernels (README "Where two runs part": the
    # loss's reduction on AMD EPYC, the weight's gradient on an Intel Xeon): the rule is that
    # the one named is the first, in step order, whose bits differ, with its ULP distance.
    one = TrainConfig(samples=1_000_000, threads=1, epochs=40)
    two = one.replace(threads=2)
    history = [train(c).history.train_loss for c in (one, two)]
    differing = [e for e, (a, b) in enumerate(zip(*history, strict=True)) if a != b]
    if not differing:
        pytest.skip("one and two threads agree for 40 epochs on this machine")
    candidate, reference = trace(two, differing[0]), trace(one, differing[0])
    found = first_difference(candidate, reference)
    assert isinstance(found, FirstDifference)
    steps = [(e, q) for e in range(candidate.epochs) for q in QUANTITIES]
    first = next(step for step in steps if _bits_differ(candidate, reference, *step))
    assert (found.epoch, found.quantity) == first
    # The losses the histories hold part there or later: a difference shows in the loss first.
    assert found.epoch <= differing[0]
    before = QUANTITIES[: QUANTITIES.index(found.quantity)]
    agreed = [q for q in before if _bits_differ(candidate, reference, found.epoch, q) is False]
    assert found.agreed == tuple(agreed)
    assert found.ulps is not None and found.ulps >= 1
    assert f"differs first, by {found.ulps} ULP (" in found.line
    assert found.op == op_of(found.quantity, candidate.config, 800_000)


@pytest.mark.skipif(compiler_problem("cpu") is not None, reason="torch.compile unavailable here")
def test_eager_and_compiled_part_in_one_named_quantity():
    compiled = FLOAT32.replace(engine="compiled")
    history = [train(c).history.train_loss for c in (FLOAT32, compiled)]
    first = next(e for e, (a, b) in enumerate(zip(*history, strict=True)) if a != b)
    found = first_difference(trace(compiled, first), trace(FLOAT32, first))
    assert isinstance(found, FirstDifference) and found.epoch <= first
    assert found.quantity in ("prediction", "loss", "grad linear.weight", "grad linear.bias",
                              "linear.weight", "linear.bias")  # fmt: skip
    assert found.ulps >= 1
    if found.quantity != "residual":  # ŷ − y is the one op outside the step's own arithmetic
        assert "compiled step" in found.op, found.op


def synthetic(values_by_epoch: list[dict[str, list[float]]], dtype=torch.float32) -> Trace:
    values = [{k: torch.tensor(v, dtype=dtype) for k, v in e.items()} for e in values_by_epoch]
    return Trace(FLOAT32.to_dict(), "float32", torch.zeros(2),
                 values, [dict.fromkeys(("prediction", "residual")) for _ in values])  # fmt: skip


def epoch(loss=0.5, grad=0.25, weight=0.8):
    return {"prediction": [0.1, 0.2], "residual": [0.0, -0.1], "loss": [loss],
            "grad linear.weight": [grad], "grad linear.bias": [0.5],
            "linear.weight": [weight], "linear.bias": [0.2]}  # fmt: skip


def test_a_gradient_that_differs_before_anything_else_is_named_with_its_op():
    reference = synthetic([epoch(), epoch()])
    candidate = synthetic(
        [epoch(), epoch(grad=float(torch.tensor(0.25).nextafter(torch.tensor(1.0))))]
    )
    found = first_difference(candidate, reference)
    assert (found.epoch, found.quantity, found.ulps) == (1, "grad linear.weight", 1)
    assert "matmul backward" in found.op
    assert found.agreed == ("prediction", "residual", "loss")
    assert found.line.startswith("epoch 1: the gradient of linear.weight differs first, by 1 ULP")


def test_traces_that_agree_say_the_difference_did_not_come_back():
    same = [epoch(), epoch()]
    found = first_difference(synthetic(same), synthetic(same))
    assert isinstance(found, NotReproduced) and "agree bit for bit up to epoch 1" in found.line


def test_a_stored_run_is_explained_from_its_history(tutorial_run):
    altered = tutorial_run.to_dict()
    losses = list(altered["history"]["train_loss"])
    losses[300] = float(torch.tensor(losses[300]).nextafter(torch.tensor(9.0)))
    altered["history"] = {**altered["history"], "train_loss": losses}
    from linreg.run import Run

    found = history_difference(Run.from_dict(altered), tutorial_run)
    assert (found.epoch, found.quantity, found.ulps) == (300, "loss", 1)
    assert "stored, not replayed" in found.line


def test_repro_carries_the_line_in_its_table_and_checks(tmp_path, capsys):
    args = ["repro", "--seeds", "42", "--threads", "1", "--no-golden", "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "where pairs that are not bit-identical part" in out
    assert "the residual of sample" in out and "in float32 and" in out
    import json

    [checks] = tmp_path.glob("*/checks.json")
    explained = [c for c in json.loads(checks.read_text())["checks"] if c["explanation"]]
    assert [c["pair"] for c in explained] == ["dtype"]
    assert explained[0]["explanation"]["kind"] == "horizon"


def test_compare_of_two_runs_says_where_they_part(tmp_path, capsys):
    for name, dtype in (("f32", "float32"), ("f64", "float64")):
        assert main(["train", "--dtype", dtype, "--out", str(tmp_path / name)]) == 0
    capsys.readouterr()
    # A dtype pair needs the same outcome, which it reaches (as repro counts it): exit 0.
    assert main(["compare", str(tmp_path / "f64"), str(tmp_path / "f32")]) == 0
    out = capsys.readouterr().out
    assert "parts: epoch" in out and "the residual of sample" in out
    assert main(["compare", str(tmp_path / "f64"), str(tmp_path / "f32"), "--no-replay"]) == 0
    assert "parts:" not in capsys.readouterr().out
