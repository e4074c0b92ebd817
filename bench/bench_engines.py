"""engine_epoch: each engine's steady training epoch across sample counts, against the floor.

A round is one engine run of a few epochs through ``linreg.engines.train``, so the stored stats
time the whole call (data, model, compile, records); ``epoch_us`` is the median over rounds of
the run's own loop time per epoch (synchronised, compile excluded), the figure to compare with
the memory floor: the least a step must move (read X and y once) over the copy bandwidth.
"""

from __future__ import annotations

import statistics

from bench_epoch import copy_bandwidth, samples_for_train_size
from measure import peak_memory

from linreg.config import TrainConfig
from linreg.engines import train


def bench_engine_epoch(benchmark, case_info, profile, device, dtype, engine, size):
    base = TrainConfig(device=device, dtype=dtype, engine=engine)
    epochs = 10 if size >= 1_000_000 else 50
    # eval_every beyond the run: the only test evaluation is epoch 0's, as in any run.
    config = base.replace(
        samples=samples_for_train_size(size, base.train_fraction),
        epochs=epochs,
        eval_every=epochs + 1,
    )
    copy_gb_per_s = copy_bandwidth(device)
    epoch_us: list[float] = []

    def one_run() -> None:
        epoch_us.append(train(config).timings["epoch_us"])

    rounds = profile.large_rounds if size >= 1_000_000 else profile.epoch_rounds // 5 or 1
    with peak_memory(device) as peak:
        benchmark.pedantic(one_run, rounds=rounds, warmup_rounds=1)
    steady_us = statistics.median(epoch_us[1:])  # the warm-up round is not a measurement
    element = 2 if dtype in ("bfloat16", "float16") else 8 if dtype == "float64" else 4
    min_bytes = 2 * size * element
    gb_per_s = min_bytes / (steady_us * 1e-6) / 1e9
    case_info.update(
        epoch_us=steady_us,
        samples_per_s=size / (steady_us * 1e-6),
        min_bytes=min_bytes,
        gb_per_s=gb_per_s,
        copy_gb_per_s=copy_gb_per_s,
        copy_fraction=gb_per_s / copy_gb_per_s,
        floor_multiple=copy_gb_per_s / gb_per_s,
        peak_bytes=peak.bytes,
        peak_source=peak.source,
    )
    benchmark.extra_info.update(case_info)
