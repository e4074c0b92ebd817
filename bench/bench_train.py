"""train: the tutorial's full 500-epoch run per device × dtype × seed × engine (× optimizer
setting, with --optimizers/--momentums)."""

from __future__ import annotations

from training import measure_training

from linreg.config import TrainConfig


def bench_train(benchmark, case_info, profile, device, dtype, seed, engine, optimizer):
    name, momentum = optimizer
    config = TrainConfig(
        device=device, dtype=dtype, seed=seed, engine=engine, optimizer=name, momentum=momentum
    )
    if (name, momentum) != ("sgd", 0.0):  # the tutorial's cases record what they always did
        case_info.update(optimizer=name, momentum=momentum)
    measure_training(benchmark, config, case_info, profile.train_rounds)
