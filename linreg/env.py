"""Environment: the fingerprint of the machine and software stack a result came from."""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import platform
import subprocess
import sys
from pathlib import Path

from linreg.json_types import Fingerprint
from linreg.paths import PROJECT_ROOT

# torch is imported by the functions that ask it: the report, compare and history read this
# module's constants and the machine's name for files already written, and a command that only
# reads files should not pay torch's import (about a second) for them.

# Environment variables that change numerics or parallelism; recorded whether set or not.
NUMERIC_ENV_VARS = (
    "CUBLAS_WORKSPACE_CONFIG",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_CBWR",
    "OPENBLAS_CORETYPE",
    "ATEN_CPU_CAPABILITY",
    "NVIDIA_TF32_OVERRIDE",
    "CUDA_VISIBLE_DEVICES",
    "PYTORCH_CUDA_ALLOC_CONF",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        brand = _output(["sysctl", "-n", "machdep.cpu.brand_string"])
        if brand:
            return brand
    return platform.processor() or platform.machine()


def _output(command: list[str], timeout: float = 5) -> str | None:
    """A command's stripped output, or None where it is missing, fails or hangs."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def gpu_names() -> list[str]:
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


@functools.cache
def project_commit() -> str | None:
    """The git commit of the linreg checkout (``-dirty`` if tracked files differ from it), or
    None when not run from one. Asked once per process: its git subprocess costs several
    milliseconds, more than a short run's set-up. The code a process runs is what it imported
    when it started, so the checkout's state when it first asks is the fitting one to record.

    One `git status` says both the commit and whether tracked files differ from it; an
    installed linreg (no .git beside the package) starts no git at all.
    """
    if not (PROJECT_ROOT / ".git").exists():
        return None
    status = _output(
        ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain=v2", "--branch",
         "--untracked-files=no"]
    )  # fmt: skip
    if status is None:
        return None
    lines = status.splitlines()
    commit = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
    if commit is None or commit == "(initial)":
        return None
    dirty = any(not line.startswith("#") for line in lines)
    return commit + ("-dirty" if dirty else "")


def capture_environment() -> Fingerprint:
    """A JSON-ready fingerprint; flat keys so two fingerprints diff key by key.

    What cannot change while the process runs (``fixed_fingerprint``, ``project_commit``) is
    asked once per process; the thread counts, flags and environment variables are read at each
    call, since a run sets them for its own duration.
    """
    import torch

    fixed = fixed_fingerprint()
    return {
        **fixed,
        "gpus": list(fixed["gpus"]),
        "num_threads": torch.get_num_threads(),
        "num_interop_threads": torch.get_num_interop_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "env": {name: os.environ.get(name) for name in NUMERIC_ENV_VARS},
        "linreg_commit": project_commit(),
        **hardware_details(),
        "host_id": host_id(),
    }


# Where a Linux host keeps its machine id (systemd's, then D-Bus's older place): 128 random bits
# written at installation, the same across reboots and host-name changes.
MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
HOST_ID_CHARS = 12


@functools.cache
def host_id() -> str:
    """A short id that tells this host from others and stays the same on it, without saying
    which host it is: 12 hex digits of an HMAC-SHA256 keyed by the machine id (as systemd's
    application-specific ids are made; the raw machine id is never written), or, where there
    is none (macOS, Windows, many containers), by the host name.

    The machine name (CPU model, cores, GPUs) is the same for every VM of one kind; this is
    what tells two of them apart. A host-name id changes with the host name, and a short
    name ("vm", "localhost") is shared by many hosts and guessable from its hash.
    """
    for name in MACHINE_ID_FILES:
        try:
            value = Path(name).read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            continue
        if value:
            return _keyed(value)
    return _keyed("host name " + (platform.node() or "unknown"))


def _keyed(secret: str) -> str:
    digest = hmac.new(secret.encode(), b"linreg host id", hashlib.sha256).hexdigest()
    return digest[:HOST_ID_CHARS]


@functools.cache
def hardware_details() -> Fingerprint:
    """What tells CPUs and GPUs apart beyond their names: read once per process."""
    return {**cpu_details(), **gpu_details()}


@functools.cache
def fixed_fingerprint() -> Fingerprint:
    """The machine and the software stack: fixed for the life of a process, so read once
    (the CPU model from /proc/cpuinfo, torch's build configuration, ...: tens of microseconds
    that every run would pay again). Shared: callers get copies through capture_environment.
    """
    import torch

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_git": getattr(torch.version, "git_version", None),
        "torch_debug": bool(torch.version.debug),
        "torch_cpu_capability": _cpu_capability(),
        "torch_config": torch.__config__.show(),
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "cuda_available": torch.cuda.is_available(),
        "gpus": tuple(gpu_names()),
        "mps_available": bool(
            getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
        ),
    }


def _cpu_capability() -> str | None:
    import torch

    get = getattr(torch.backends.cpu, "get_cpu_capability", None)
    return get() if get else None


# What tells two CPUs apart where "model name" does not: a VM often reports a generic name
# ("AMD EPYC", "Intel(R) Xeon(R) Processor") for several generations of parts.
# Instruction-set extensions that change which kernels torch runs, and so speed and numerics.
NUMERIC_CPU_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_bf16",
    "amx_tile",
    "asimd",
    "sve",
    "sve2",
    "bf16",
)


def cpu_details() -> Fingerprint:
    """Vendor, family/model/stepping, numerics-relevant flags and L3 size of the first CPU
    (Linux's /proc/cpuinfo and sysfs; None elsewhere)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break  # the first processor's block is enough: they are alike
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    signature = [fields.get(k) for k in ("cpu family", "model", "stepping")]
    return {
        "cpu_vendor": fields.get("vendor_id") or fields.get("CPU implementer"),
        "cpu_signature": (
            "family {} model {} stepping {}".format(*signature) if all(signature) else None
        ),
        "cpu_flags_summary": " ".join(f for f in NUMERIC_CPU_FLAGS if f in flags) or None,
        "cpu_l3_cache": _l3_cache(),
    }


def _l3_cache() -> str | None:
    try:
        return Path("/sys/devices/system/cpu/cpu0/cache/index3/size").read_text().strip() or None
    except OSError:
        return None


def gpu_details() -> Fingerprint:
    """The GPU driver and compute capabilities, which the GPU's name alone does not give."""
    import torch

    if not torch.cuda.is_available():
        return {"gpu_driver": None, "gpu_capabilities": []}
    capabilities = [
        "{}.{}".format(*torch.cuda.get_device_capability(i))
        for i in range(torch.cuda.device_count())
    ]
    return {"gpu_driver": _nvidia_driver(), "gpu_capabilities": capabilities}


def _nvidia_driver() -> str | None:
    """The NVIDIA driver's version (e.g. 580.159.03): torch knows the CUDA it was built with,
    not the driver the machine runs, and that decides which kernels run too."""
    out = _output(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], 10)
    versions = sorted(set(out.split())) if out else []
    return ", ".join(versions) or None
