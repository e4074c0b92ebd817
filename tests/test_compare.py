from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from linreg.compare.runs import Tolerance, compare_runs, first_divergence, meets, quantity_diff
from linreg.config import TrainConfig
from linreg.engines import train
from linreg.results.checkpoint import load_checkpoint, save_checkpoint
from linreg.run import Run
from linreg.state import state_from_json
from linreg.suites.repro import golden_check
from linreg.tolerance import default_tolerances, looser_dtype
from linreg.ulp import max_ulp, ulp_distances

REFERENCES = Path(__file__).resolve().parent.parent / "results" / "reference"


@pytest.fixture(scope="module")
def float64_run() -> Run:
    return train(TrainConfig(dtype="float64"))


def test_first_divergence_separates_bitwise_and_tolerance() -> None:
    tol = Tolerance(rtol=0.0, atol=0.1)
    div = first_divergence([1.0, 2.0, 3.0, 4.0], [1.0, 2.05, 3.0, 4.5], tol)
    assert (div.bitwise, div.beyond_tolerance) == (1, 3)
    assert first_divergence([1.0], [1.0], tol).bitwise is None


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_neighbouring_values_are_one_ulp_apart(dtype: str) -> None:
    t = torch.tensor([0.3, -0.3, 0.0], dtype=getattr(torch, dtype))
    up = torch.nextafter(t, torch.full_like(t, 10.0))
    assert ulp_distances(t.double().tolist(), up.double().tolist(), dtype) == [1, 1, 1]


def test_zero_signs_share_a_position() -> None:
    assert max_ulp([0.0], [-0.0], "float32") == 0


def test_result_compared_with_itself_is_bit_identical(tutorial_run: Run) -> None:
    c = compare_runs(tutorial_run, tutorial_run, default_tolerances())
    assert c.level == "a"
    assert c.divergence.bitwise is None and c.horizon is None
    assert all(q.max_ulp == 0 for q in c.quantities.values())


def test_float32_and_float64_agree_until_the_limit_cycle(tutorial_run, float64_run) -> None:
    c = compare_runs(tutorial_run, float64_run, default_tolerances())
    assert c.level == "c"
    assert c.horizon == 186
    assert c.max_abs_before_horizon < 1e-6
    assert abs(c.final_candidate["weight"] - c.final_reference["weight"]) <= c.bound.weight


def test_bfloat16_never_converges_and_is_different(float64_run) -> None:
    c = compare_runs(train(TrainConfig(dtype="bfloat16")), float64_run, default_tolerances())
    assert c.level == "d"
    assert c.final_candidate["weight"] < 0.7
    assert not meets(c, "c").holds
    assert "required outcome-equivalent" in meets(c, "c").reason


def test_b_horizon_requires_agreement_as_long_as_the_reference(tutorial_run, float64_run):
    c = compare_runs(tutorial_run, float64_run, default_tolerances())
    assert meets(c, "b-horizon", reference_horizon=186).holds
    verdict = meets(c, "b-horizon", reference_horizon=300)
    assert not verdict.holds and "from epoch 186" in verdict.reason


def test_one_ulp_in_a_saved_checkpoint_is_reported_as_one_ulp(tutorial_run, tmp_path) -> None:
    state = state_from_json(tutorial_run.final_state)
    save_checkpoint(state, tmp_path / "a.pth")
    moved = dict(state)
    w = state["linear.weight"]
    moved["linear.weight"] = torch.nextafter(w, w + 1)
    save_checkpoint(moved, tmp_path / "b.pth")
    diff = quantity_diff(
        values(load_checkpoint(tmp_path / "b.pth")), values(load_checkpoint(tmp_path / "a.pth")),
        "float32", default_tolerances().for_dtype("float32"),
    )  # fmt: skip
    assert diff.max_ulp == 1
    assert not diff.bitwise and diff.within_tolerance


def test_checkpoints_of_two_dtypes_compare_within_the_looser_tolerance(tutorial_run) -> None:
    state32 = state_from_json(tutorial_run.final_state)
    state64 = {k: v.double() for k, v in state32.items()}
    # Two dtypes are judged by the looser one's tolerance, float32's (as compare_runs does).
    dtype = looser_dtype("float64", "float32")
    diff = quantity_diff(values(state64), values(state32), dtype,
                         default_tolerances().for_dtype(dtype))  # fmt: skip
    assert dtype == "float32" and diff.max_ulp == 0 and diff.within_tolerance


def values(state) -> list[float]:
    """A state_dict's values in name order, as float64 (exact for every dtype linreg trains)."""
    return [v for name in sorted(state) for v in state[name].double().reshape(-1).tolist()]


def test_golden_reference_holds_for_the_tutorial(tutorial_run) -> None:
    [check] = golden_check(tutorial_run, REFERENCES, default_tolerances())
    assert check.holds, check.reason


def test_a_run_of_another_config_has_no_golden_reference() -> None:
    assert golden_check(train(TrainConfig(lr=0.0101)), REFERENCES, default_tolerances()) == []
    assert golden_check(train(TrainConfig(samples=100)), REFERENCES, default_tolerances()) == []


def test_an_lr_changed_inside_the_code_fails_the_golden_check_and_names_the_epoch() -> None:
    # The planted fault: training uses 0.0101 while the config (the question asked) says 0.01.
    run = train(TrainConfig(lr=0.0101))
    run = dataclasses.replace(run, config=run.config.replace(lr=0.01))
    [check] = golden_check(run, REFERENCES, default_tolerances())
    assert not check.holds
    assert check.comparison is not None
    # Epoch 0's train loss is taken before the first step; its test loss, after it.
    assert check.comparison.divergence.bitwise == 0
    assert "beyond tolerance from epoch 0" in check.reason


def test_a_changed_training_without_a_config_change_fails_the_golden_check(tutorial_run):
    losses = list(tutorial_run.history.train_loss)
    losses[250] += 1e-3
    history = dataclasses.replace(tutorial_run.history, train_loss=tuple(losses))
    [check] = golden_check(
        dataclasses.replace(tutorial_run, history=history), REFERENCES, default_tolerances()
    )
    assert not check.holds and "beyond tolerance from epoch 250" in check.reason
