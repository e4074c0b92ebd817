"""inference: a trained model's forward pass in eval + inference mode on growing batches."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import torch
from measure import median_seconds, peak_memory, synced

from linreg.config import TrainConfig
from linreg.engines import train
from linreg.model import build_model
from linreg.numerics import synchronize, torch_dtype
from linreg.state import state_from_json


@lru_cache(maxsize=8)
def trained_state(config: TrainConfig) -> dict[str, torch.Tensor]:
    return state_from_json(train(config).final_state)


def inference_call(
    config: TrainConfig, size: int, state: dict[str, torch.Tensor] | None = None
) -> Callable[[], torch.Tensor]:
    """The trained model's forward pass on ``size`` samples: what the case times (and what
    bench/instructions.py counts, with the weights of its shorter warm-up loop: ``state``)."""
    model = build_model(config)
    model.load_state_dict(trained_state(config) if state is None else state)
    model.eval()
    X = torch.linspace(0, 1, size, dtype=torch_dtype(config.dtype), device=config.device)
    X = X.unsqueeze(1)

    def forward() -> torch.Tensor:
        with torch.inference_mode():
            return model(X)

    return forward


def bench_inference(benchmark, case_info, profile, device, dtype, seed, engine, size):
    config = TrainConfig(device=device, dtype=dtype, seed=seed, engine=engine)
    forward = inference_call(config, size)
    element = torch.empty(0, dtype=torch_dtype(dtype)).element_size()
    synchronize(device)

    rounds = profile.large_rounds if size >= 1_000_000 else profile.inference_rounds
    with peak_memory(device) as peak:
        benchmark.pedantic(
            synced(device, forward),
            setup=lambda: synchronize(device),
            rounds=rounds,
            warmup_rounds=1,
        )
    seconds = median_seconds(benchmark)
    if seconds is None:
        return
    moved_bytes = 2 * size * element  # read the batch, write the predictions
    case_info.update(
        samples_per_s=size / seconds,
        gb_per_s=moved_bytes / seconds / 1e9,
        peak_bytes=peak.bytes,
        peak_source=peak.source,
    )
    benchmark.extra_info.update(case_info)
