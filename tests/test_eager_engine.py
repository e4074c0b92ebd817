import math

import pytest
import torch

from linreg.config import TrainConfig
from linreg.engines import train
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
