"""CUDA runs against CPU runs, and the fingerprint of a GPU stack. Every test here needs a CUDA
device and is skipped with the reason where there is none (tests/conftest.py)."""

from __future__ import annotations

import re

import pytest
import torch

from linreg.compare.runs import compare_runs
from linreg.config import ENGINES, TrainConfig
from linreg.engines import train
from linreg.env import capture_environment
from linreg.numerics import numeric_settings
from linreg.tolerance import default_tolerances

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("engine", ENGINES)
def test_a_cuda_run_agrees_with_its_cpu_twin(engine, dtype):
    """Within tolerance at first, then at worst the same outcome (level c): L1's limit cycle
    amplifies a last-bit difference in a reduction's order."""
    cpu = train(TrainConfig(dtype=dtype, threads=1))
    cuda = train(TrainConfig(device="cuda", dtype=dtype, engine=engine))
    assert cuda.config.device.startswith("cuda")
    comparison = compare_runs(cuda, cpu, default_tolerances(), "cuda", "cpu")
    assert comparison.level in ("a", "b", "c"), comparison.level
    assert comparison.horizon is None or comparison.horizon >= 10


def test_a_cuda_run_is_bit_identical_when_repeated():
    first = train(TrainConfig(device="cuda"))
    assert train(TrainConfig(device="cuda")).state_hash == first.state_hash


def test_the_fingerprint_names_the_gpu_its_driver_cuda_and_cudnn():
    env = capture_environment()
    assert env["cuda_available"] is True
    assert env["gpus"] and all(isinstance(name, str) and name for name in env["gpus"])
    assert re.match(r"^\d+\.\d+", env["gpu_driver"] or ""), env["gpu_driver"]
    assert env["cuda"] == torch.version.cuda
    assert isinstance(env["cudnn"], int)


@pytest.mark.parametrize("tf32", [False, True])
@pytest.mark.parametrize("deterministic", [True, False])
def test_the_fingerprint_records_the_tf32_and_determinism_a_run_had(tf32, deterministic):
    run = train(TrainConfig(device="cuda", epochs=10, tf32=tf32, deterministic=deterministic))
    env = run.environment
    assert env["matmul_allow_tf32"] is tf32 and env["cudnn_allow_tf32"] is tf32
    assert env["float32_matmul_precision"] == ("high" if tf32 else "highest")
    assert env["deterministic_algorithms"] is deterministic
    if deterministic:
        assert env["env"]["CUBLAS_WORKSPACE_CONFIG"] in (":4096:8", ":16:8")


def test_tf32_reaches_float32_matmuls_on_a_gpu_that_has_it():
    if torch.cuda.get_device_capability() < (8, 0):
        pytest.skip("TF32 needs an Ampere or newer GPU (compute capability 8.0)")
    a = torch.randn(1024, 1024, device="cuda")
    b = torch.randn(1024, 1024, device="cuda")
    with numeric_settings(TrainConfig(device="cuda")):
        exact = a @ b
    with numeric_settings(TrainConfig(device="cuda", tf32=True)):
        fast = a @ b
    assert not torch.equal(exact, fast)
    torch.testing.assert_close(fast, exact, rtol=1e-2, atol=1e-1)
