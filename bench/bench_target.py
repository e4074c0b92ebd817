"""A target's cases (`pytest bench --target SPEC [--target-size ci]`, `linreg bench --target`):

- target_step: the harness's loop over the size's steps (linreg.engines.target_loop; the set-up,
  and for the compiled engine its compiling steps, outside the timed rounds), per-step time in
  extra_info;
- target_inference: the model's forward over the eval batches in eval mode, inference_mode;
- target_overhead (asked for by --kinds): the harness's loop against a bare hand-written loop of
  the same target, their ratio held to <= 1.05 (``meets_target``).

Ids name the target and its code hash (``target_step[mlp-3f9a1c2b4d5e-ci-cpu-float32-seed42-
eager]``): a changed target is a new case.
"""

from __future__ import annotations

import os
import statistics
import time

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


def bench_target_overhead(benchmark, case_info, profile, target_case):
    """The harness's loop against a bare hand-written loop of the same target (bench/
    bench_targets.py's: its losses checked equal to the harness's), alternating in this process:
    pytest-benchmark times the harness's rounds, the bare loop runs in each round's untimed
    setup. extra_info holds both sides, their ratio and ``meets_target`` (<= 1.05)."""
    from bench_targets import MAX_RATIO, bare_loop

    from linreg.numerics import numeric_settings

    config = case_config(target_case, "cpu", "float32", 42, "eager", torch.get_num_threads())
    reference_s: list[float] = []
    same: list[bool] = []

    def bare_round() -> list[float]:
        bare = bare_loop(target_case.target, config)
        # The harness's loop leaves new memory unfilled under deterministic algorithms: so does
        # the bare loop, so that only the loops' own code differs.
        fill = torch.utils.deterministic.fill_uninitialized_memory
        torch.utils.deterministic.fill_uninitialized_memory = False
        try:
            with numeric_settings(config):  # type: ignore[arg-type]
                started = time.perf_counter()
                losses = bare()
                reference_s.append(time.perf_counter() - started)
        finally:
            torch.utils.deterministic.fill_uninitialized_memory = fill
        return losses

    prepared = []

    def setup():
        losses = bare_round()
        run = prepare_target(config, target_case.target)
        prepared.append((run, losses))
        return (run,), {}

    (warm,), _ = setup()  # each side's first round warms up, and is dropped
    warm.loop()
    prepared.clear()
    reference_s.clear()
    benchmark.pedantic(lambda run: run.loop(), setup=setup, rounds=profile.overhead_rounds,
                       iterations=1)  # fmt: skip
    for run, losses in prepared:
        same.append(list(run.finish().train_loss) == losses)
    candidate_s = list(benchmark.stats.stats.data) if benchmark.stats else []
    if not candidate_s:
        return
    ratio = statistics.median(candidate_s) / statistics.median(reference_s)
    pairs = [c / r for c, r in zip(candidate_s, reference_s, strict=True)]
    load = os.getloadavg()[0]
    case_info.update(
        target_case.info(),
        comparison="target_step",
        candidate="linreg's target loop (prepare_target(...).loop())",
        reference="a bare hand-written loop of the same target",
        candidate_s=candidate_s,
        reference_s=reference_s,
        candidate_median_s=statistics.median(candidate_s),
        reference_median_s=statistics.median(reference_s),
        ratio=ratio,
        paired_ratio=statistics.median(pairs),
        max_ratio=MAX_RATIO,
        meets_target=ratio <= MAX_RATIO,
        same_losses=all(same),
        load_1min_after=load,
    )
    benchmark.extra_info.update(case_info)
