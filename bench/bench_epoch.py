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
from measure import median_seconds, minor_faults, peak_memory, synced, time_device

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.model import build_model, make_loss_fn, make_optimizer
from linreg.numerics import numeric_settings, synchronize, torch_dtype

# 2**25 float32 = 128 MiB per tensor: far beyond any CPU's last-level cache. On a GPU a copy of
# that size takes tens of µs at HBM speed, the order of the launch and sync latency around it:
# 2**28 (1 GiB per tensor, a few hundred µs) measures the memory, not the latency.
COPY_ELEMENTS = 2**25
CUDA_COPY_ELEMENTS = 2**28
# Epochs timed by CUDA events after a case (device_epoch_us): the GPU's own time per epoch.
DEVICE_EPOCHS = 10
_copy_gb_per_s: dict[str, float] = {}


def copy_tensors(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    elements = CUDA_COPY_ELEMENTS if device.startswith("cuda") else COPY_ELEMENTS
    src = torch.ones(elements, dtype=torch.float32, device=device)
    return src, torch.empty_like(src)


def copy_bandwidth(device: str) -> float:
    """GB/s of a large device-to-device copy (read + write bytes), measured once per session:
    the one figure every case's floor uses, whichever case runs first (on CUDA by events)."""
    if device not in _copy_gb_per_s:
        src, dst = copy_tensors(device)
        times = time_device(device, lambda: dst.copy_(src), repeats=10, warmup=2)
        _copy_gb_per_s[device] = (
            2 * src.numel() * src.element_size() / statistics.median(times) / 1e9
        )
        del src, dst  # before the case that asked: its peak memory is its own
    return _copy_gb_per_s[device]


def samples_for_train_size(n: int, train_fraction: float) -> int:
    samples = round(n / train_fraction)
    while int(train_fraction * samples) < n:
        samples += 1
    while int(train_fraction * (samples - 1)) >= n:
        samples -= 1
    return samples


def bench_copy(benchmark, case_info, profile, device):
    copy_gb_per_s = copy_bandwidth(device)
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
    # This case's own figure (wall time, synchronised) beside the floor every case uses.
    gb_per_s = moved_bytes / seconds / 1e9
    case_info.update(
        dtype="float32",
        size=src.numel(),
        gb_per_s=gb_per_s,
        copy_gb_per_s=copy_gb_per_s,
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
        # The GPU's own time per epoch, epochs queued back to back as in a training loop: at
        # small sizes the host's launches set it, at large ones the memory does.
        device_epoch_us = (
            statistics.median(time_device(device, epoch, DEVICE_EPOCHS, warmup=0)) * 1e6
            if device.startswith("cuda")
            else None
        )
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
        device_epoch_us=device_epoch_us,
        peak_bytes=peak.bytes,
        peak_source=peak.source,
    )
    benchmark.extra_info.update(case_info)
