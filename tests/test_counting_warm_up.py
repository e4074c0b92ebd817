"""The counting worker's warm-up (bench/instructions.py ``warm_up``): every case runs once before
the counted children fork, except a train case whose loop an inference case of the same config
has just run in training its model."""

from __future__ import annotations

import pytest

from tests.bench_modules import bench_on_path

CASE = {"device": "cpu", "dtype": "float32", "engine": "eager", "threads": 1}
INFERENCE = {**CASE, "kind": "inference", "seed": None, "size": 10}
TRAIN = {**CASE, "kind": "train", "seed": 42, "size": None}


@pytest.fixture(scope="module")
def instructions():
    with bench_on_path():
        import instructions

        yield instructions


def test_a_train_case_whose_loop_an_inference_case_ran_is_not_run_again(instructions):
    specs = [INFERENCE, {**INFERENCE, "size": 1000}, TRAIN]
    assert instructions.warm_up(specs) == [0, 1]
    # What makes the skip sound: the inference cases trained the train case's own config here,
    # with the warm-up loop.
    config = instructions._config(TRAIN)
    assert config == instructions._config(INFERENCE)
    before = instructions.warm_up_state.cache_info()
    instructions.warm_up_state(config)
    assert instructions.warm_up_state.cache_info().hits == before.hits + 1


def test_the_warm_up_loop_is_one_evaluation_period_and_the_epoch_after_it(instructions):
    import torch

    from linreg.engines import train
    from linreg.engines.records import eval_epochs
    from linreg.state import state_from_json

    config = instructions._config(TRAIN)
    short = instructions.warm_up_config(config)
    assert (short.epochs, config.epochs) == (config.eval_every + 1, 500)
    # Every op the loop runs: a step, and an evaluation after the first one.
    assert len(eval_epochs(short)) >= 2
    assert short.replace(epochs=config.epochs) == config
    # The inference cases' weights are the warm-up loop's, not the bench's 500 epochs'.
    state = instructions.warm_up_state(config)
    expected = state_from_json(train(short).final_state)
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[name], expected[name]) for name in state)


@pytest.mark.parametrize(
    "train",
    [
        {**TRAIN, "seed": 0},
        {**TRAIN, "optimizer": "sgd", "momentum": 0.9},
        {**TRAIN, "threads": 2},
    ],
    ids=["another seed", "another optimizer setting", "another thread count"],
)
def test_a_train_case_of_another_config_is_run(instructions, train):
    assert instructions.warm_up([INFERENCE, train]) == [0, 1]


def test_a_train_case_before_its_inference_case_is_run(instructions):
    # The loop has not run yet when the train case's turn comes.
    assert instructions.warm_up([TRAIN, INFERENCE]) == [0, 1]
