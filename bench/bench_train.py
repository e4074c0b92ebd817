"""train: the tutorial's full 500-epoch run per device × dtype × seed × engine."""

from __future__ import annotations

from training import measure_training

from linreg.config import TrainConfig


def bench_train(benchmark, case_info, profile, device, dtype, seed, engine):
    config = TrainConfig(device=device, dtype=dtype, seed=seed, engine=engine)
    measure_training(benchmark, config, case_info, profile.train_rounds)
