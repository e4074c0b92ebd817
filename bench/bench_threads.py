"""threads: the train case on cpu at one thread and at all cores; the count is recorded."""

from __future__ import annotations

import os

from training import measure_training

from linreg.config import TrainConfig


def bench_threads(benchmark, case_info, profile, device, dtype, seed, engine, threads_mode):
    threads = 1 if threads_mode == "1" else os.cpu_count() or 1
    config = TrainConfig(device=device, dtype=dtype, seed=seed, engine=engine, threads=threads)
    measure_training(benchmark, config, case_info, profile.train_rounds)
