"""A target's cases (`pytest bench --target SPEC [--target-size ci]`, `linreg bench --target`):

- target_step: the harness's loop over the size's steps (linreg.engines.target_loop; the set-up,
  and for the compiled engine its compiling steps, outside the timed rounds), per-step time in
  extra_info;
- target_inference: the model's forward over the eval batches in eval mode, inference_mode.

Ids name the target and its code hash (``target_step[mlp-3f9a1c2b4d5e-ci-cpu-float32-seed42-
eager]``): a changed target is a new case.
"""

from __future__ import annotations

import statistics

import pytest
import torch
from measure import median_seconds, peak_memory, synced
from target_cases import case_config

from linreg.engines.target_inference import inference_call
from linreg.engines.target_loop import prepare_target
from linreg.numerics import synchronize
from linreg.target_loading import unsupported


def _config_or_skip(target_case, device, dtype, seed, engine):
    config = case_config(target_case, device, dtype, seed, engine, torch.get_num_threads())
    problem = unsupported(target_case.target, config)
    if problem is None and engine not in ("eager", "compiled"):
        problem = f"the {engine} engine does not train targets yet"
    if problem is not None:
        pytest.skip(str(problem))
    return config


def bench_target_step(benchmark, case_info, profile, target_case, device, dtype, seed, engine):
    config = _config_or_skip(target_case, device, dtype, seed, engine)
    steps = target_case.steps()
    prepared = []

    def prepare_round():
        run = prepare_target(config, target_case.target)
        prepared.append(run)
        return (run,), {}

    def loop(run) -> None:
        run.loop()  # synchronises with the device before it returns

    with peak_memory(device) as peak:
        (warmup,), _ = prepare_round()
        loop(warmup)
        prepared.pop().finish()
        benchmark.pedantic(loop, setup=prepare_round, rounds=profile.train_rounds, iterations=1)
        runs = [run.finish() for run in prepared]
    train_seconds = statistics.median(run.timings.train_seconds for run in runs)
    case_info.update(
        target_case.info(),
        steps=steps,
        train_seconds=train_seconds,
        step_us=train_seconds / steps * 1e6,
        compile_seconds=runs[-1].timings.compile_seconds if runs else None,
        parameters=runs[-1].parameter_count if runs else None,
        peak_bytes=peak.bytes,
        peak_source=peak.source,
    )
    benchmark.extra_info.update(case_info)


def bench_target_inference(benchmark, case_info, profile, target_case, device, dtype, seed, engine):
    config = _config_or_skip(target_case, device, dtype, seed, engine)
    if engine != "eager":
        pytest.skip("target_inference runs the model's own forward: the eager engine's case")
    forward, samples = inference_call(config, target_case.target)
    synchronize(device)
    with peak_memory(device) as peak:
        benchmark.pedantic(
            synced(device, forward),
            setup=lambda: synchronize(device),
            rounds=profile.inference_rounds,
            warmup_rounds=1,
        )
    seconds = median_seconds(benchmark)
    case_info.update(
        target_case.info(),
        samples=samples,
        samples_per_s=samples / seconds if seconds else None,
        peak_bytes=peak.bytes,
        peak_source=peak.source,
    )
    benchmark.extra_info.update(case_info)
