import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.engines import train
from linreg.engines.batched import (
    epoch_threads,
    initial_parameters,
    member_configs,
    train_batched,
    weight_gradient,
)
from linreg.engines.records import make_run
from linreg.errors import ConfigError, TrainingDiverged
from linreg.model import build_model
from linreg.state import state_to_json


def curves(run):
    return (
        torch.tensor(run.history.train_loss, dtype=torch.float32),
        torch.tensor(run.history.test_loss, dtype=torch.float32),
        torch.tensor([run.final_weight, run.final_bias], dtype=torch.float32),
    )


@pytest.fixture(scope="module")
def hundred_seeds():
    return train_batched(TrainConfig(), seeds=range(100))


def test_members_are_bit_identical_to_their_eager_twins_on_seeds_0_to_99(hundred_seeds):
    assert [r.config.seed for r in hundred_seeds] == list(range(100))
    for member in hundred_seeds:
        twin = train(TrainConfig(seed=member.config.seed))
        for got, want in zip(curves(member), curves(twin), strict=True):
            torch.testing.assert_close(got, want)
        assert member.initial_state == twin.initial_state
        # Stronger than the tolerance: on the CPU in float32 every op rounds as eager's does.
        assert member.history == twin.history
        assert member.state_hash == twin.state_hash


def eager_weight_gradients(x_train, slopes):
    """Each row of ``slopes`` as d loss / d ŷ through nn.Linear's backward, as eager sums it."""
    model = torch.nn.Linear(1, 1)
    want = []
    for slope in slopes:
        model.zero_grad()
        (model(x_train) * slope.reshape(-1, 1)).sum().backward()
        want.append(model.weight.grad.reshape(1).clone())
    return torch.stack(want)


def test_weight_gradient_sums_as_eager_backward_does_for_every_member():
    # Eager's sum is MKL's, whose order depends on the CPU: whichever formula weight_gradient
    # picks must match it on members it was not probed with, a width with a ragged tail included.
    x_train = make_dataset(TrainConfig()).X_train
    slopes = torch.randn(333, x_train.shape[0], generator=torch.Generator().manual_seed(1))
    assert torch.equal(
        weight_gradient(x_train, len(slopes))(slopes), eager_weight_gradients(x_train, slopes)
    )


@settings(max_examples=20, deadline=None)
@given(
    members=st.integers(1, 1500),
    samples=st.sampled_from([None, 7, 40, 100, 255]),
    seed=st.integers(0, 2**32 - 1),
)
def test_weight_gradient_sums_as_eager_does_at_any_batch_shape_call_after_call(
    members, samples, seed
):
    # BLAS picks its kernel by shape, so the formula is probed at the batch's own; a formula
    # that writes into a buffer of its own must give each call's sums, not the last call's.
    x_train = make_dataset(TrainConfig(samples=samples)).X_train
    generator = torch.Generator().manual_seed(seed)
    gradient = weight_gradient(x_train, members)
    for _ in range(2):
        slopes = torch.randn(members, x_train.shape[0], generator=generator)
        assert torch.equal(gradient(slopes), eager_weight_gradients(x_train, slopes))


@pytest.fixture(scope="module")
def thousand_seeds():
    return train_batched(TrainConfig(), seeds=range(1000))


@settings(max_examples=6, deadline=None)
@given(member=st.integers(0, 999))
def test_members_of_a_thousand_seed_sweep_are_bit_identical_to_their_eager_twins(
    thousand_seeds, member
):
    # A sweep's own batch shape, which the 100-seed test does not have.
    run = thousand_seeds[member]
    twin = train(TrainConfig(seed=member))
    assert run.history == twin.history
    assert run.state_hash == twin.state_hash


@settings(max_examples=8, deadline=None)
@given(
    seeds=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=3, unique=True),
    lrs=st.lists(st.floats(1e-4, 0.3), min_size=1, max_size=2, unique=True),
    loss=st.sampled_from(["l1", "mse"]),
)
def test_members_at_any_seed_and_learning_rate_are_bit_identical_to_their_eager_twins(
    seeds, lrs, loss
):
    config = TrainConfig(loss=loss, epochs=80, eval_every=20)
    for run in train_batched(config, seeds=seeds, lrs=lrs):
        twin = train(config.replace(seed=run.config.seed, lr=run.config.lr))
        assert run.history == twin.history
        assert run.state_hash == twin.state_hash


def test_member_records_say_batched_and_carry_the_batch_timings(hundred_seeds):
    run = hundred_seeds[7]
    assert run.config == TrainConfig(seed=7, engine="batched")
    assert run.timings["members"] == 100
    assert run.timings["train_seconds"] > 0
    assert run.history.test_epochs == tuple(range(0, 500, 50))


def test_learning_rate_axis_agrees_with_eager_at_each_lr():
    lrs = [0.001, 0.03, 0.1]
    runs = train_batched(TrainConfig(epochs=200), seeds=[3, 4], lrs=lrs)
    assert [(r.config.seed, r.config.lr) for r in runs] == [(s, lr) for s in (3, 4) for lr in lrs]
    for member in runs:
        twin = train(TrainConfig(epochs=200, seed=member.config.seed, lr=member.config.lr))
        for got, want in zip(curves(member), curves(twin), strict=True):
            torch.testing.assert_close(got, want)


def test_mse_and_float64_members_agree_with_eager_within_tolerance():
    for config in (TrainConfig(loss="mse", epochs=100), TrainConfig(dtype="float64", epochs=100)):
        (member,) = train_batched(config)
        twin = train(config)
        torch.testing.assert_close(
            torch.tensor(member.history.train_loss), torch.tensor(twin.history.train_loss)
        )


def test_train_with_engine_batched_gives_one_run():
    run = train(TrainConfig(engine="batched", seed=42, epochs=20, eval_every=10))
    assert run.config.engine == "batched" and run.config.seed == 42
    assert run.history.test_epochs == (0, 10)


def test_empty_axes_are_refused():
    with pytest.raises(ConfigError, match="seeds: no seeds given"):
        member_configs(TrainConfig(), seeds=[])
    with pytest.raises(ConfigError, match="lrs: no learning rates given"):
        member_configs(TrainConfig(), lrs=[])


def test_a_diverging_member_stops_the_batch_naming_its_epoch():
    with pytest.raises(TrainingDiverged, match=r"at epoch \d+"):
        train_batched(TrainConfig(loss="mse", epochs=60), lrs=[0.01, 1e6])


def eagerly_built_records(config, runs, seeds, lrs):
    """The members' Runs built all at once from the batch's tensors, as the engine used to."""
    members = member_configs(config.replace(device="cpu"), seeds, lrs)
    train_rows = runs.train_losses.T.to(torch.float64).tolist()
    test_rows = runs.test_losses.T.to(torch.float64).tolist()
    (w0, b0), (w, b) = runs.initial, runs.final
    return [
        make_run(
            member,
            runs.environment,
            train_rows[k],
            test_rows[k],
            state_to_json({"linear.weight": w0[k].reshape(1, 1), "linear.bias": b0[k].reshape(1)}),
            {"linear.weight": w[k].reshape(1, 1).clone(), "linear.bias": b[k].reshape(1).clone()},
            dict(runs.timings),
        )
        for k, member in enumerate(members)
    ]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_member_records_built_on_access_equal_eagerly_built_ones(dtype):
    config = TrainConfig(epochs=60, eval_every=20, dtype=dtype)
    seeds, lrs = [5, 0, 9], [0.01, 0.05]
    runs = train_batched(config, seeds=seeds, lrs=lrs)
    expected = eagerly_built_records(config, runs, seeds, lrs)
    assert list(runs) == expected
    for got, want in zip(runs, expected, strict=True):
        assert json.dumps(got.to_dict()) == json.dumps(want.to_dict())
        assert got.state_hash == want.state_hash


def test_members_start_from_their_eager_twins_parameters():
    runs = train_batched(TrainConfig(epochs=1), seeds=range(100), lrs=[0.01, 0.1])
    for run in runs:
        twin = build_model(TrainConfig(seed=run.config.seed))
        assert run.initial_state == state_to_json(twin.state_dict())


@settings(max_examples=30, deadline=None)
@given(seeds=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=20))
def test_initial_parameters_are_build_models_for_any_seeds(seeds):
    weights, biases = initial_parameters(seeds)
    for seed, weight, bias in zip(seeds, weights, biases, strict=True):
        twin = build_model(TrainConfig(seed=seed))
        assert torch.equal(weight.reshape(1, 1), twin.linear.weight.detach())
        assert torch.equal(bias.reshape(1), twin.linear.bias.detach())


@settings(max_examples=6, deadline=None)
@given(
    members=st.integers(2, 2500),
    samples=st.integers(10, 120),
    loss=st.sampled_from(["l1", "mse"]),
)
def test_members_do_not_depend_on_the_thread_count(members, samples, loss):
    # What lets epoch_threads pick one thread for a small batch: threads split each member's
    # row reductions by rows, never within a row, and the gradient's formula is probed per count.
    config = TrainConfig(samples=samples, loss=loss, epochs=12, eval_every=4)
    batches = [
        train_batched(config.replace(threads=threads), seeds=range(members))
        for threads in (None, 1, 2)
    ]
    for other in batches[1:]:
        assert torch.equal(other.train_losses, batches[0].train_losses)
        assert torch.equal(other.test_losses, batches[0].test_losses)
        assert all(torch.equal(a, b) for a, b in zip(other.final, batches[0].final, strict=True))


def test_a_small_batch_left_to_torchs_threads_trains_on_one_and_records_it():
    before = torch.get_num_threads()
    small = train_batched(TrainConfig(epochs=2), seeds=range(100))
    assert small.environment["num_threads"] == epoch_threads(small.config, 100, 40) == 1
    chosen = train_batched(TrainConfig(epochs=2, threads=2), seeds=range(100))
    assert chosen.environment["num_threads"] == 2 and epoch_threads(chosen.config, 100, 40) is None
    assert torch.get_num_threads() == before
    # One member keeps the run's threads, as eager does: its loss is a reduction to one value,
    # which threads split.
    assert epoch_threads(TrainConfig(), 1, 40) is None


def test_member_runs_behave_as_a_sequence():
    runs = train_batched(TrainConfig(epochs=5), seeds=[1, 2, 3])
    assert len(runs) == 3
    assert runs[-1].config.seed == 3 and runs[-1] == runs[2]
    assert [r.config.seed for r in runs[1:]] == [2, 3]
    with pytest.raises(IndexError, match="member 3 of a batch of 3"):
        runs[3]
    (first, *_) = runs
    assert first.config.seed == 1 and "3 members" in repr(runs)


@pytest.mark.parametrize(
    ("seeds", "lrs"),
    [([0, -1], None), ([0, 2**63], None), ([0, 1.5], None), ([True], None),
     ([0], [0.01, 0.0]), ([0], [float("nan")]), ([0], [1e39])],
)  # fmt: skip
def test_bad_members_are_refused_as_member_configs_refuses_them(seeds, lrs):
    with pytest.raises(ConfigError) as expected:
        member_configs(TrainConfig(), seeds=seeds, lrs=lrs)
    with pytest.raises(ConfigError) as refused:
        train_batched(TrainConfig(epochs=1), seeds=seeds, lrs=lrs)
    assert str(refused.value) == str(expected.value)
