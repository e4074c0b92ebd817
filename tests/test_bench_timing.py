"""Honest device timing in the bench suite: the timed region covers the kernels it launched, a
device's own clock times what the host cannot, peak memory is the case's own. The CUDA tests
skip with the reason where there is no CUDA device (tests/conftest.py)."""

from __future__ import annotations

import statistics
import time

import pytest
import torch

from tests.bench_modules import bench_on_path


@pytest.fixture(scope="module")
def bench():
    """The bench suite's measure and bench_epoch modules (bench/ is not a package)."""
    with bench_on_path():
        import bench_epoch
        import measure

        yield measure, bench_epoch


def matmuls(count: int = 20, n: int = 4096):
    a = torch.randn(n, n, device="cuda")
    b = torch.randn(n, n, device="cuda")

    def work() -> None:
        for _ in range(count):
            a @ b

    return work


def test_device_time_on_a_cpu_is_the_synchronised_wall_time(bench):
    measure, _ = bench
    calls = []
    times = measure.time_device("cpu", lambda: calls.append(time.sleep(0.001)), 3, warmup=2)
    assert len(calls) == 5 and len(times) == 3
    assert all(t >= 0.001 for t in times)


def test_the_copy_floor_is_one_figure_whichever_case_asks_first(bench):
    _, bench_epoch = bench
    bench_epoch._copy_gb_per_s.pop("cpu", None)
    first = bench_epoch.copy_bandwidth("cpu")
    assert bench_epoch.copy_bandwidth("cpu") == first > 0


@pytest.mark.cuda
def test_synchronised_wall_time_covers_the_kernels_and_an_unsynchronised_one_would_not(bench):
    measure, _ = bench
    work = matmuls()
    device = statistics.median(measure.time_device("cuda", work, 3))
    wall = measure.time_synced("cuda", work, 3)
    assert min(wall) >= 0.9 * device
    torch.cuda.synchronize()
    started = time.perf_counter()
    work()  # launches only: the host returns long before the GPU is done
    launched = time.perf_counter() - started
    torch.cuda.synchronize()
    assert launched < 0.5 * device


@pytest.mark.cuda
def test_synced_stops_the_timer_after_the_kernels(bench):
    measure, _ = bench
    work = matmuls()
    measure.synced("cuda", work)()  # warm-up
    device = statistics.median(measure.time_device("cuda", work, 3))
    started = time.perf_counter()
    measure.synced("cuda", work)()
    assert time.perf_counter() - started >= 0.9 * device


@pytest.mark.cuda
def test_peak_memory_is_the_case_own_not_what_came_before(bench):
    measure, _ = bench
    earlier = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    del earlier
    with measure.peak_memory("cuda") as peak:
        inside = torch.empty(64 << 20, dtype=torch.uint8, device="cuda")
    assert peak.source == "cuda_max_allocated"
    assert (64 << 20) <= peak.bytes < (1 << 30)
    del inside


@pytest.mark.cuda
def test_the_cuda_copy_floor_is_a_memory_figure_not_a_latency(bench):
    _, bench_epoch = bench
    src, _ = bench_epoch.copy_tensors("cuda")
    assert src.numel() * src.element_size() >= 1 << 30  # hundreds of µs at HBM speed
    del src
    assert bench_epoch.copy_bandwidth("cuda") > 100  # GB/s: any GPU's memory, no host link
