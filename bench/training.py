"""Timing a training loop with any engine, and splitting its cold epoch from the rest.

A round times ``loop()`` of a prepared run and nothing else: the set-up before it (environment,
data, model, compilation) runs in pytest-benchmark's untimed setup, and the record is built
after the rounds (see linreg.engines.prepared).
"""

from __future__ import annotations

import statistics
import time

import torch
from measure import peak_memory

from linreg.config import TrainConfig
from linreg.engines import prepare
from linreg.engines.prepared import PreparedRun
from linreg.numerics import numeric_settings
from linreg.run import Run

Evals = list[tuple[int | None, float]]


def _epoch_split(evals: Evals) -> tuple[float | None, float | None]:
    """(cold_epoch_us, steady_epoch_us) from the wall-clock times of the eval callbacks.

    ``evals`` opens with the loop's start (epoch None), then engines call on_eval after syncing at
    epochs 0, 50, ...: the cold epoch is the start to epoch 0's call (its step and its test-loss
    evaluation), measured, not inferred from the total (the total minus a steady estimate went
    negative when the steady epochs were slower than the run's mean). The time between the first
    and last eval is steady state (eval epochs included, as in the run itself). None where the
    engine reports no evals (cold) or fewer than two (steady).
    """
    (_, start_t), evals = evals[0], evals[1:]
    if not evals:
        return None, None
    cold_us = (evals[0][1] - start_t) * 1e6
    if len(evals) < 2:
        return cold_us, None
    (first_epoch, first_t), (last_epoch, last_t) = evals[0], evals[-1]
    steady_us = (last_t - first_t) / (last_epoch - first_epoch) * 1e6
    return cold_us, steady_us


def measure_training(benchmark, config: TrainConfig, info: dict, rounds: int) -> None:
    """One run's loop per round; the first run in this process is warm-up, kept apart."""
    prepared: list[tuple[PreparedRun[Run], Evals]] = []

    def prepare_round() -> tuple[tuple[PreparedRun[Run], Evals], dict]:
        evals: Evals = []
        run = prepare(config, on_eval=lambda epoch, *_: evals.append((epoch, time.perf_counter())))
        prepared.append((run, evals))
        return (run, evals), {}

    def loop(run: PreparedRun[Run], evals: Evals) -> None:
        evals.append((None, time.perf_counter()))
        run.loop()  # synchronises with the device before it returns

    with peak_memory(config.device) as peak:
        (warmup, warmup_evals), _ = prepare_round()
        loop(warmup, warmup_evals)
        warmup_cold_us, _ = _epoch_split(prepared.pop()[1])
        warmup.finish()
        benchmark.pedantic(loop, setup=prepare_round, rounds=rounds, iterations=1)
        # Under --benchmark-disable the one untimed call is kept as this case's run.
        results = [(run.finish(), evals) for run, evals in prepared]
    with numeric_settings(config):
        threads = torch.get_num_threads()

    runs = [run for run, _ in results]
    splits = [_epoch_split(evals) for _, evals in results]
    train_seconds = statistics.median(run.timings["train_seconds"] for run in runs)
    cold = [c for c, _ in splits if c is not None]
    steady = [s for _, s in splits if s is not None]
    info.update(
        size=config.train_size,
        threads=threads,
        epochs=config.epochs,
        train_samples=config.train_size,
        train_seconds=train_seconds,
        epoch_us=train_seconds / config.epochs * 1e6,
        cold_epoch_us=statistics.median(cold) if cold else None,
        steady_epoch_us=statistics.median(steady) if steady else None,
        first_cold_epoch_us=warmup_cold_us,
        samples_per_s=config.train_size * config.epochs / train_seconds,
        peak_bytes=peak.bytes,
        peak_source=peak.source,
    )
    benchmark.extra_info.update(info)
