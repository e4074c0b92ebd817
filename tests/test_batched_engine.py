import pytest
import torch

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.engines import train
from linreg.engines.batched import member_configs, train_batched, weight_gradient
from linreg.errors import ConfigError, TrainingDiverged


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


def test_weight_gradient_sums_as_eager_backward_does_for_every_member():
    # Eager's sum is MKL's, whose order depends on the CPU: whichever formula weight_gradient
    # picks must match it on members it was not probed with, a width with a ragged tail included.
    x_train = make_dataset(TrainConfig()).X_train
    slopes = torch.randn(333, x_train.shape[0], generator=torch.Generator().manual_seed(1))
    model = torch.nn.Linear(1, 1)
    want = []
    for slope in slopes:
        model.zero_grad()
        (model(x_train) * slope.reshape(-1, 1)).sum().backward()
        want.append(model.weight.grad.reshape(1).clone())
    assert torch.equal(weight_gradient(x_train, len(slopes))(slopes), torch.stack(want))


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
