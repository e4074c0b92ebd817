"""Device and dtype resolution, and the global numeric settings a run borrows and returns."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import torch

from linreg.config import TrainConfig
from linreg.errors import ConfigError

TORCH_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

# cuBLAS is only deterministic with a fixed workspace; it must be set before the first cuBLAS call.
CUBLAS_WORKSPACE = ":4096:8"


def torch_dtype(name: str) -> torch.dtype:
    return TORCH_DTYPES[name]


def available_devices() -> list[str]:
    """The device kinds this process can run on, cpu first."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if _mps_available():
        devices.append("mps")
    return devices


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str) -> str:
    """Turn 'auto' into a concrete device and refuse devices this machine does not have."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                "device",
                f"{name} requested but CUDA is not available here "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}); use cpu or auto",
            )
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                "device", f"{name} requested but only {torch.cuda.device_count()} CUDA device(s)"
            )
    if name == "mps" and not _mps_available():
        raise ConfigError("device", "mps requested but the MPS backend is not available here")
    return name


def resolve(config: TrainConfig) -> TrainConfig:
    """The config with a concrete device, as a Run records it."""
    return config.replace(device=resolve_device(config.device))


def synchronize(device: str) -> None:
    """Wait for queued kernels so that a wall-clock reading covers them."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()


def set_deterministic(mode: bool, warn_only: bool = False, compiled: bool = False) -> None:
    """torch's deterministic-algorithms flag, without importing the compiler for an eager run.

    ``torch.use_deterministic_algorithms`` also sets inductor's own flag, importing
    ``torch._inductor.config`` and with it dynamo (2 s of every eager process here, ten times
    that under Valgrind). Only a compiled run reads inductor's flag: it and any process that
    has imported inductor already get the public call; an eager run sets the flag it reads."""
    if compiled or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


@contextlib.contextmanager
def numeric_settings(config: TrainConfig) -> Iterator[None]:
    """Apply the run's thread count, determinism and TF32 flags; restore the previous ones on exit.

    Global torch state is borrowed, never left changed, so one run cannot leak its settings into
    the next one in the same process. Determinism and TF32 are independent: each config says
    both, so a run never inherits them from whatever ran before it in the process.
    """
    saved_threads = torch.get_num_threads()
    saved_deterministic = torch.are_deterministic_algorithms_enabled()
    saved_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    saved_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    saved_tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    saved_precision = torch.get_float32_matmul_precision()
    saved_cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    compiled = config.engine == "compiled"
    try:
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        if config.deterministic:
            if saved_cublas is None:
                os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
            set_deterministic(True, compiled=compiled)
            torch.backends.cudnn.deterministic = True
        else:
            # cuBLAS reads CUBLAS_WORKSPACE_CONFIG once per process, when it starts: a process's
            # first CUDA run fixes its workspace, so the variable is left as the process has it.
            set_deterministic(False, compiled=compiled)
            torch.backends.cudnn.deterministic = False
        # Autotuning picks kernels by timing them, a choice that can differ from run to run.
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = config.tf32
        torch.backends.cudnn.allow_tf32 = config.tf32
        torch.set_float32_matmul_precision("high" if config.tf32 else "highest")
        yield
    finally:
        torch.set_num_threads(saved_threads)
        set_deterministic(saved_deterministic, saved_warn_only, compiled)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved_cudnn
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved_tf32
        torch.set_float32_matmul_precision(saved_precision)
        if saved_cublas is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
