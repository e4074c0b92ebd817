"""epoch: one eager training epoch across sample counts, beside the device's copy bandwidth.

gb_per_s counts the least the step must move: read X and y once (2·N·element bytes). The eager
step moves several times more (y_pred, the L1 residual, its sign and the gradients are each an
N-sized tensor written and read), so the fraction of copy bandwidth is a lower bound on how busy
the memory system is, and its distance from 1 is what a fused step could win.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch
from measure import median_seconds, minor_faults, peak_memory, synced, time_synced

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.model import build_model, make_loss_fn, make_optimizer
from linreg.numerics import numeric_settings, synchronize, torch_dtype

# 2**25 float32 = 128 MiB per tensor: far beyond any last-level cache.
COPY_ELEMENTS = 2**25
_copy_gb_per_s: dict[str, float] = {}


def copy_tensors(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    src = torch.ones(COPY_ELEMENTS, dtype=torch.float32, device=device)
    return src, torch.empty_like(src)


def copy_bandwidth(device: str) -> float:
    """GB/s of a large device-to-device copy (read + write bytes), measured once per session."""
    if device not in _copy_gb_per_s:
        src, dst = copy_tensors(device)
        times = time_synced(device, lambda: dst.copy_(src), repeats=12)[2:]
        _copy_gb_per_s[device] = (
            2 * src.numel() * src.element_size() / statistics.median(times) / 1e9
        )
    return _copy_gb_per_s[device]


def samples_for_train_size(n: int, train_fraction: float) -> int:
    samples = round(n / train_fraction)
    while int(train_fraction * samples) < n:
        samples += 1
    while int(train_fraction * (samples - 1)) >= n:
        samples -= 1
    return samples


def bench_copy(benchmark, case_info, profile, device):
    src, dst = copy_tensors(device)
    with peak_memory(device) as peak:
        benchmark.pedantic(
            synced(device, lambda: dst.copy_(src)),
            setup=lambda: synchronize(device),
            rounds=profile.epoch_rounds,
            warmup_rounds=2,
        )
    seconds = median_seconds(benchmark)
    if seconds is None:
        return
    moved_bytes = 2 * src.numel() * src.element_size()
    gb_per_s = moved_bytes / seconds / 1e9
    _copy_gb_per_s.setdefault(device, gb_per_s)
    case_info.update(
        dtype="float32",
        size=src.numel(),
        gb_per_s=gb_per_s,
        copy_gb_per_s=gb_per_s,
        peak_bytes=peak.bytes,
        peak_source=peak.source,
    )
    benchmark.extra_info.update(case_info)


def epoch_call(config: TrainConfig, size: int | None = None) -> Callable[[], None]:
    """One eager training epoch (the tutorial's step) on the config's data, or on ``size``
    training samples: what the case times (and what bench/instructions.py counts)."""
    if size is not None:
        config = config.replace(samples=samples_for_train_size(size, config.train_fraction))
    data = make_dataset(config)
    model = build_model(config)
    loss_fn = make_loss_fn(config)
    optimizer = make_optimizer(config, model)
    model.train()

    def epoch() -> None:
        y_pred = model(data.X_train)
        loss = loss_fn(y_pred, data.y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return epoch


def bench_epoch(benchmark, case_info, profile, device, dtype, size):
    base = TrainConfig(device=device, dtype=dtype)
    config = base.replace(samples=samples_for_train_size(size, base.train_fraction))
    assert config.train_size == size
    copy_gb_per_s = copy_bandwidth(device)
    with numeric_settings(config), peak_memory(device) as peak:
        epoch = epoch_call(config)
        rounds = profile.large_rounds if size >= 1_000_000 else profile.epoch_rounds
        faults_before = minor_faults()
        benchmark.pedantic(
            synced(device, epoch),
            setup=lambda: synchronize(device),
            rounds=rounds,
            warmup_rounds=2,
        )
        # Large eager intermediates are fresh mmaps each epoch; their first touch is paid here.
        faults_per_epoch = (minor_faults() - faults_before) / (rounds + 2)
        threads = torch.get_num_threads()
    seconds = median_seconds(benchmark)
    if seconds is None:
        return
    min_bytes = 2 * size * torch.empty(0, dtype=torch_dtype(dtype)).element_size()
    gb_per_s = min_bytes / seconds / 1e9
    case_info.update(
        threads=threads,
        epoch_us=seconds * 1e6,
        samples_per_s=size / seconds,
        min_bytes=min_bytes,
        gb_per_s=gb_per_s,
        copy_gb_per_s=copy_gb_per_s,
        copy_fraction=gb_per_s / copy_gb_per_s,
        minor_faults_per_epoch=faults_per_epoch,
        peak_bytes=peak.bytes,
        peak_source=peak.source,
    )
    benchmark.extra_info.update(case_info)
