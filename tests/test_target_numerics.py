"""The rules a target's runs are judged by, as properties over generated values: a dtype's twin
within its tolerance of float64 by RMS error; any other run within ``multiplier`` times its
twin's error of float64 plus the tolerance, or within the tolerance of its twin (as
torch._dynamo.utils.same with fp64_ref); integer tensors equal; a record's first difference."""

from __future__ import annotations

import dataclasses
import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from linreg.compare.target_numerics import figures, record_difference, rmse
from linreg.engines.target_loop import train_target
from linreg.suites.target_repro import determinism_checks
from linreg.suites.target_repro_options import TargetReproMatrix, label
from linreg.target_config import TargetConfig
from linreg.target_loading import load_target
from linreg.tolerance import Tolerance

TOLERANCE = Tolerance(rtol=1.3e-6, atol=1e-5)


def vectors(seed: int, n: int = 64) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-6, 1e3), share=st.floats(0.0, 3.0))
def test_the_twin_holds_exactly_while_its_rms_error_is_within_the_tolerance(seed, scale, share):
    reference = scale * vectors(seed)
    bound = TOLERANCE.atol + TOLERANCE.rtol * float(reference.square().mean().sqrt())
    noise = vectors(seed + 1)
    candidate = reference + share * bound * noise / float(noise.square().mean().sqrt())
    result = figures("w", candidate, reference, TOLERANCE)
    assert result.rule == "rms"
    # Adding the noise rounds at float64's precision of the values themselves.
    assert math.isclose(result.error, share * bound, rel_tol=1e-6, abs_tol=1e-14 * scale)
    if not math.isclose(share, 1.0, rel_tol=1e-6):
        assert result.holds == (share < 1.0)


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    twin_share=st.floats(1e-3, 1e3),
    ratio=st.floats(0.0, 10.0),
    multiplier=st.floats(1.0, 5.0),
)
def test_a_run_may_be_multiplier_times_further_from_float64_than_its_twin(
    seed, twin_share, ratio, multiplier
):
    reference = vectors(seed)
    direction = vectors(seed + 1)
    direction = direction / float(direction.square().mean().sqrt())
    twin = reference + twin_share * TOLERANCE.atol * direction
    # The run on the far side of float64 from its twin: never within the twin's tolerance.
    candidate = reference - ratio * twin_share * TOLERANCE.atol * direction
    result = figures("w", candidate, reference, TOLERANCE, twin, multiplier)
    bound = TOLERANCE.atol + TOLERANCE.rtol * float(reference.square().mean().sqrt())
    allowed = multiplier * rmse(twin, reference) + bound
    assert result.rule == "fp64" and math.isclose(result.allowed, allowed, rel_tol=1e-9)
    far_from_twin = not torch.allclose(candidate, twin, rtol=TOLERANCE.rtol, atol=TOLERANCE.atol)
    if far_from_twin and not math.isclose(result.error, allowed, rel_tol=1e-6):
        assert result.holds == (result.error < allowed)


@given(seed=st.integers(0, 10_000))
def test_a_run_within_the_tolerance_of_its_twin_holds_however_far_both_are(seed):
    reference = vectors(seed)
    twin = reference + 1.0  # far from float64, as a low precision may be
    candidate = twin + 0.5 * TOLERANCE.atol
    result = figures("w", candidate, reference, TOLERANCE, twin, multiplier=0.1)
    assert result.holds and result.note == "within the tolerance of its twin"


def test_integer_buffers_must_be_equal_under_every_rule():
    counts = torch.tensor(40)
    assert figures("bn.num_batches_tracked", counts, counts.clone(), TOLERANCE).holds
    other = figures("bn.num_batches_tracked", counts + 1, counts, TOLERANCE, counts)
    assert not other.holds and other.note == "integers differ"


def test_a_tensor_of_another_shape_fails_naming_the_shapes():
    result = figures("w", torch.zeros(3), torch.zeros(4, dtype=torch.float64), TOLERANCE)
    assert not result.holds and result.note == "shape (3,), float64's (4,)"


def small_runs():
    target, ref = load_target("mlp")
    config = TargetConfig(target=ref, size="ci", threads=1, steps=6)
    return config, train_target(config, target)


def test_a_records_first_difference_is_its_first_differing_loss_then_its_tensors():
    _, run = small_runs()
    assert record_difference(run, run) is None
    losses = list(run.train_loss)
    losses[4] = math.nextafter(losses[4], math.inf)
    changed = dataclasses.replace(run, train_loss=tuple(losses))
    what, step = record_difference(changed, run)
    assert step == 4 and what.startswith("the train loss (")
    name = next(iter(run.parameters))
    digest = dataclasses.replace(run.parameters[name], sha256="0" * 64)
    tensor = dataclasses.replace(run, parameters={**run.parameters, name: digest})
    assert record_difference(tensor, run) == (f"the trained {name}", None)


def test_declared_nondeterminism_is_said_never_passed_nor_failed():
    config, run = small_runs()
    losses = (math.nextafter(run.train_loss[0], 0.0), *run.train_loss[1:])
    other = dataclasses.replace(run, train_loss=losses)
    runs = {config.config_id: (run, other)}
    [undeclared] = determinism_checks([config], runs, ())
    [declared] = determinism_checks([config], runs, ("draws from the clock",))
    [same] = determinism_checks([config], {config.config_id: (run, run)}, ("draws",))
    assert undeclared.status == "fails" and undeclared.reason.startswith("nondeterministic: ")
    assert declared.status == "declared" and not declared.holds and not declared.fails
    assert declared.reason.startswith("declared nondeterministic (draws from the clock)")
    assert same.status == "holds"


def test_each_run_is_judged_against_its_seeds_float64_run_and_its_dtypes_twin():
    _, ref = load_target("mlp")
    matrix = TargetReproMatrix(
        target=ref,
        size="ci",
        steps=60,
        dtypes=("float32",),
        seeds=(0, 1),
        threads=(2,),
        engines=("eager",),
    )
    target = load_target("mlp")[0]
    labels = {label(c) for c in matrix.configs(target)}
    for seed in (0, 1):
        assert f"cpu float64 seed {seed} threads 1 eager" in labels  # the reference
        assert f"cpu float32 seed {seed} threads 1 eager" in labels  # the twin
        assert f"cpu float32 seed {seed} threads 2 eager" in labels  # asked for
    resumed = matrix.resume_configs(target)
    assert [label(c) for c in resumed] == [f"cpu float32 seed {s} threads 2 eager" for s in (0, 1)]
