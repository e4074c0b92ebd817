import contextlib
import math

import pytest
import torch

from linreg.config import TrainConfig
from linreg.engines import prepare, train
from linreg.engines.records import LossBuffer, record_eval
from linreg.errors import TrainingDiverged
from linreg.results.run_folder import history_csv


def test_same_config_twice_gives_identical_history_and_hash(tutorial_run):
    again = train(TrainConfig())
    assert history_csv(again) == history_csv(tutorial_run)
    assert again.state_hash == tutorial_run.state_hash


@pytest.mark.parametrize("dtype", ["float64", "bfloat16", "float16"])
def test_other_dtypes_train_and_record_their_dtype(dtype):
    run = train(TrainConfig(dtype=dtype))
    assert run.config.dtype == dtype
    assert run.final_state["linear.weight"]["dtype"] == dtype
    assert all(math.isfinite(v) for v in run.history.train_loss)
    # The stored value is exactly representable in the run's dtype.
    w = run.final_weight
    assert torch.tensor(w, dtype=torch.float64).to(getattr(torch, dtype)).item() == w


def test_float64_differs_from_float32_but_both_learn_the_line(tutorial_run):
    run64 = train(TrainConfig(dtype="float64"))
    assert run64.state_hash != tutorial_run.state_hash
    assert abs(run64.final_weight - 0.8) < 0.02
    assert abs(tutorial_run.final_weight - 0.8) < 0.02


def test_eval_epochs_follow_eval_every():
    run = train(TrainConfig(epochs=7, eval_every=3))
    assert run.history.test_epochs == (0, 3, 6)
    assert len(run.history.train_loss) == 7


def test_divergence_is_reported_with_its_epoch():
    with pytest.raises(TrainingDiverged, match=r"at epoch \d+") as info:
        train(TrainConfig(loss="mse", lr=1e6))
    assert 0 < info.value.epoch < 50
    assert not math.isfinite(info.value.value)


def test_divergence_after_the_last_eval_epoch_is_caught():
    # eval only at epoch 0; the explosion comes later and must still be caught at the end.
    with pytest.raises(TrainingDiverged):
        train(TrainConfig(loss="mse", lr=1e6, epochs=60, eval_every=1000))


def test_size_sweep_samples_are_used():
    run = train(TrainConfig(samples=1000, epochs=3))
    assert run.config.train_size == 800
    assert len(run.history.train_loss) == 3


def test_timings_are_recorded(tutorial_run):
    assert tutorial_run.timings["train_seconds"] > 0
    assert tutorial_run.timings["epoch_us"] == pytest.approx(
        tutorial_run.timings["train_seconds"] / 500 * 1e6
    )


def test_environment_is_captured_inside_the_runs_settings():
    run = train(TrainConfig(epochs=2, threads=1))
    assert run.environment["num_threads"] == 1
    assert run.environment["deterministic_algorithms"] is True
    assert run.environment["torch"] == torch.__version__


@pytest.mark.cuda
def test_cuda_run_is_deterministic_and_close_to_cpu(tutorial_run):
    first = train(TrainConfig(device="cuda"))
    second = train(TrainConfig(device="cuda"))
    assert first.state_hash == second.state_hash
    assert first.config.device == "cuda"
    torch.testing.assert_close(
        torch.tensor(first.history.train_loss[:150]),
        torch.tensor(tutorial_run.history.train_loss[:150]),
    )


def test_prepare_loop_finish_is_train(tutorial_run):
    prepared = prepare(TrainConfig())
    assert prepared.train_seconds is None
    prepared.loop()
    run = prepared.finish()
    assert run.history == tutorial_run.history and run.state_hash == tutorial_run.state_hash
    assert run.initial_state == tutorial_run.initial_state
    assert run.timings["train_seconds"] == prepared.train_seconds > 0


@pytest.mark.parametrize("engine", ["eager", "batched"])
def test_loop_and_finish_do_no_set_up(monkeypatch, engine):
    """Environment, data and model are made by prepare(); loop() is the epochs alone."""
    prepared = prepare(TrainConfig(epochs=20, eval_every=5, engine=engine))
    module = f"linreg.engines.{engine}"

    def set_up_again(*args, **kwargs):
        raise AssertionError("set-up after prepare()")

    for name in ("capture_environment", "make_dataset", "build_model", "initial_parameters"):
        monkeypatch.setattr(f"{module}.{name}", set_up_again, raising=False)
    prepared.loop()
    assert prepared.finish().history.epochs == 20


def test_loop_borrows_the_runs_thread_count_and_returns_it():
    seen = []
    prepared = prepare(
        TrainConfig(epochs=3, eval_every=1, threads=1),
        on_eval=lambda *_: seen.append(torch.get_num_threads()),
    )
    before = torch.get_num_threads()
    prepared.loop()
    assert seen == [1, 1, 1] and torch.get_num_threads() == before


def test_loop_runs_once_and_finish_follows_it():
    prepared = prepare(TrainConfig(epochs=2))
    with pytest.raises(RuntimeError, match=r"finish\(\) before loop\(\)"):
        prepared.finish()
    prepared.loop()
    with pytest.raises(RuntimeError, match=r"loop\(\) already ran"):
        prepared.loop()
    assert prepared.finish() == prepared.finish()


def test_losses_beyond_one_buffer_block_continue_the_shorter_run(tutorial_run):
    epochs = 2 * LossBuffer.BLOCK + 100
    run = train(TrainConfig(epochs=epochs, eval_every=1000))
    assert run.history.train_loss[:500] == tutorial_run.history.train_loss
    assert run.history.epochs == epochs and run.history.test_epochs == (0, 1000, 2000)


def test_loss_buffer_keeps_every_value_in_order_across_blocks():
    losses = LossBuffer(2500, torch.float32, "cpu")
    values = torch.rand(2500)
    for v in values:
        losses.append(v)
        if len(losses.values()) == 1500:
            assert torch.equal(losses.values(), values[:1500])
    assert torch.equal(losses.values(), values)


def test_a_non_finite_loss_at_an_eval_epoch_names_the_first_one_in_any_block():
    train_losses = LossBuffer(1500, torch.float32, "cpu")
    for epoch in range(1500):
        train_losses.append(torch.tensor(math.inf if epoch >= 1100 else 1.0))
    test_losses = LossBuffer(1, torch.float32, "cpu")
    with pytest.raises(TrainingDiverged, match="at epoch 1100") as info:
        record_eval(
            1499, torch.tensor(math.inf), torch.tensor(1.0), train_losses, test_losses, None
        )
    assert info.value.epoch == 1100


def test_the_loop_leaves_fresh_memory_unfilled_and_restores_the_flag():
    seen = []
    prepared = prepare(
        TrainConfig(epochs=2, eval_every=1),
        on_eval=lambda *_: seen.append(torch.utils.deterministic.fill_uninitialized_memory),
    )
    prepared.loop()
    assert seen == [False, False]
    assert torch.utils.deterministic.fill_uninitialized_memory is True


@pytest.mark.parametrize("engine", ["eager", "batched"])
def test_filling_fresh_memory_would_change_no_result(monkeypatch, engine):
    config = TrainConfig(epochs=200, engine=engine)
    unfilled = train(config)
    monkeypatch.setattr(
        "linreg.engines.prepared._fresh_memory_left_unfilled", contextlib.nullcontext
    )
    filled = train(config)
    assert filled.history == unfilled.history and filled.state_hash == unfilled.state_hash
