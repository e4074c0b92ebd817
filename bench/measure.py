"""What the benchmark cases measure besides time: peak memory, and honest device timing."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from linreg.numerics import synchronize


@dataclass
class Peak:
    """The high-water mark of one case: bytes, and where the figure comes from."""

    bytes: int | None = None
    source: str = "none"


def _vm_hwm_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _trim_heap() -> None:
    """Hand memory freed by earlier cases back to the OS, so it does not count as this case's."""
    gc.collect()
    # Not glibc: nothing to trim, and the mark may include earlier cases' freed memory.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_vm_hwm() -> bool:
    # Writing 5 to clear_refs resets the resident high-water mark to the current RSS (Linux >= 4.0).
    _trim_heap()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _ru_maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@contextmanager
def peak_memory(device: str) -> Iterator[Peak]:
    """Record the case's peak memory into the yielded Peak when the block ends.

    CPU: the process's resident high-water mark, reset first where Linux allows it, else the
    process-lifetime maximum (source says which). CUDA: torch's allocator peak after a reset.
    """
    peak = Peak()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
        yield peak
        synchronize(device)
        peak.bytes, peak.source = torch.cuda.max_memory_allocated(device), "cuda_max_allocated"
        return
    if device == "mps":
        yield peak
        synchronize(device)
        driver = getattr(torch.mps, "driver_allocated_memory", None)
        if driver is not None:
            peak.bytes, peak.source = driver(), "mps_driver_allocated_at_end"
        return
    was_reset = _reset_vm_hwm()
    yield peak
    hwm = _vm_hwm_bytes()
    if was_reset and hwm is not None:
        peak.bytes, peak.source = hwm, "vm_hwm_reset"
    else:
        peak.bytes, peak.source = _ru_maxrss_bytes(), "ru_maxrss_process"


def synced(device: str, work: Callable[[], object]) -> Callable[[], None]:
    """work, then wait for the device, so that the timer stops after the kernels end."""

    def call() -> None:
        work()
        synchronize(device)

    return call


def time_synced(device: str, work: Callable[[], object], repeats: int) -> list[float]:
    """Wall times of repeats calls of work, each bracketed by device synchronisation."""
    times = []
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        work()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return times


def time_device(
    device: str, work: Callable[[], object], repeats: int, warmup: int = 2
) -> list[float]:
    """Seconds the device spends on each of ``repeats`` calls of work, after ``warmup`` calls.

    On CUDA, events recorded on the stream before and after the call: the GPU's own clock, free
    of the host's launch and synchronisation latency (tens of µs, the whole time of a 1 GiB copy
    at HBM speed is a few hundred). Elsewhere the synchronised wall time.
    """
    for _ in range(warmup):
        work()
    if not device.startswith("cuda"):
        return time_synced(device, work, repeats)
    pairs = [
        (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
        for _ in range(repeats)
    ]
    synchronize(device)
    for start, end in pairs:
        start.record()
        work()
        end.record()
    synchronize(device)  # once, after the last: no host wait between the timed calls
    return [start.elapsed_time(end) / 1e3 for start, end in pairs]


def minor_faults() -> int:
    """Page faults served without I/O so far: each first touch of a freshly mapped page."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def median_seconds(benchmark) -> float | None:
    """The case's median round, or None under --benchmark-disable (one untimed smoke run)."""
    return None if benchmark.stats is None else benchmark.stats.stats.median
