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

Evals = list[tuple[int, float]]


def _epoch_split(run: Run, evals: Evals) -> tuple[float | None, float | None]:
    """(cold_epoch_us, steady_epoch_us) from the wall-clock times of the eval callbacks.

    Engines call on_eval after syncing at epochs 0, 50, ...; the time between the first and last
    call is steady state (eval epochs included, as in the run itself). The cold epoch is the rest
    of the run's own loop time. None where the engine reports fewer than two evals.
    """
    if len(evals) < 2:
        return None, None
    (first_epoch, first_t), (last_epoch, last_t) = evals[0], evals[-1]
    steady_us = (last_t - first_t) / (last_epoch - first_epoch) * 1e6
    cold_us = run.timings["train_seconds"] * 1e6 - steady_us * (run.config.epochs - 1)
    return cold_us, steady_us


def measure_training(benchmark, config: TrainConfig, info: dict, rounds: int) -> None:
    """One run's loop per round; the first run in this process is warm-up, kept apart."""
    prepared: list[tuple[PreparedRun[Run], Evals]] = []

    def prepare_round() -> tuple[tuple[PreparedRun[Run]], dict]:
        evals: Evals = []
        run = prepare(config, on_eval=lambda epoch, *_: evals.append((epoch, time.perf_counter())))
        prepared.append((run, evals))
        return (run,), {}

    def loop(run: PreparedRun[Run]) -> None:
        run.loop()  # synchronises with the device before it returns

    with peak_memory(config.device) as peak:
        (warmup,), _ = prepare_round()
        warmup.loop()
        warmup_cold_us, _ = _epoch_split(warmup.finish(), prepared.pop()[1])
        benchmark.pedantic(loop, setup=prepare_round, rounds=rounds, iterations=1)
        # Under --benchmark-disable the one untimed call is kept as this case's run.
        results = [(run.finish(), evals) for run, evals in prepared]
    with numeric_settings(config):
        threads = torch.get_num_threads()

    runs = [run for run, _ in results]
    splits = [_epoch_split(run, evals) for run, evals in results]
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
