import subprocess

import pytest
import torch

import linreg.env
from linreg.config import TrainConfig
from linreg.engines import train
from linreg.env import capture_environment, fixed_fingerprint, project_commit
from linreg.numerics import numeric_settings


@pytest.fixture
def fresh_caches():
    """Forget what this process has already asked, before and after the test."""
    project_commit.cache_clear()
    fixed_fingerprint.cache_clear()
    yield
    project_commit.cache_clear()
    fixed_fingerprint.cache_clear()


def fake_git(monkeypatch, status: str) -> list[list[str]]:
    """git answering ``status`` to `git status --porcelain=v2 --branch`; the calls it got."""
    calls = []
    real_run = subprocess.run

    def run(args, **kwargs):
        if args[0] != "git":  # platform asks uname for the processor
            return real_run(args, **kwargs)
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, stdout=status, stderr="")

    monkeypatch.setattr(subprocess, "run", run)
    return calls


CLEAN = "# branch.oid 0123abcd\n# branch.head main\n"


def test_git_runs_once_per_process_however_many_runs_capture_the_environment(
    monkeypatch, fresh_caches
):
    calls = fake_git(monkeypatch, CLEAN)
    for _ in range(3):
        assert capture_environment()["linreg_commit"] == "0123abcd"
    assert train(TrainConfig(epochs=2)).environment["linreg_commit"] == "0123abcd"
    # One git process says the commit and whether tracked files differ from it.
    assert [args[3:5] for args in calls] == [["status", "--porcelain=v2"]]


def test_a_changed_tracked_file_marks_the_commit_dirty(monkeypatch, fresh_caches):
    fake_git(monkeypatch, CLEAN + "1 .M N... 100644 100644 100644 a b linreg/env.py\n")
    assert project_commit() == "0123abcd-dirty"


def test_outside_a_checkout_no_git_is_started(monkeypatch, fresh_caches, tmp_path):
    calls = fake_git(monkeypatch, CLEAN)
    monkeypatch.setattr(linreg.env, "PROJECT_ROOT", tmp_path)  # an installed linreg: no .git
    assert project_commit() is None and calls == []


def test_the_machine_and_stack_are_read_once_per_process(monkeypatch, fresh_caches):
    reads = []
    monkeypatch.setattr(linreg.env, "cpu_model", lambda: reads.append(1) or "Some CPU")
    assert [capture_environment()["cpu"] for _ in range(3)] == ["Some CPU"] * 3
    assert len(reads) == 1


def test_each_capture_is_a_copy_that_a_caller_may_change(fresh_caches):
    first = capture_environment()
    first["gpus"].append("planted")
    first["env"]["OMP_NUM_THREADS"] = "planted"
    first["torch"] = "planted"
    again = capture_environment()
    assert "planted" not in again["gpus"]
    assert again["env"]["OMP_NUM_THREADS"] != "planted" and again["torch"] == torch.__version__


def test_thread_counts_and_flags_are_read_at_each_capture():
    outside = capture_environment()
    with numeric_settings(TrainConfig(threads=1, deterministic=True)):
        inside = capture_environment()
    assert inside["num_threads"] == 1 and inside["deterministic_algorithms"] is True
    assert outside["num_threads"] == torch.get_num_threads()
    assert outside["deterministic_algorithms"] == torch.are_deterministic_algorithms_enabled()


def test_the_fingerprint_keeps_its_keys_and_their_order():
    """Records written before the fixed part was cached have the same keys in the same order;
    the hardware details came later, after them."""
    assert list(capture_environment()) == [
        "python",
        "python_implementation",
        "os",
        "machine",
        "cpu",
        "cpu_count",
        "torch",
        "torch_git",
        "torch_debug",
        "torch_cpu_capability",
        "torch_config",
        "cuda",
        "cudnn",
        "cuda_available",
        "gpus",
        "mps_available",
        "num_threads",
        "num_interop_threads",
        "deterministic_algorithms",
        "cudnn_deterministic",
        "cudnn_benchmark",
        "matmul_allow_tf32",
        "cudnn_allow_tf32",
        "float32_matmul_precision",
        "env",
        "linreg_commit",
        "cpu_vendor",
        "cpu_signature",
        "cpu_flags_summary",
        "cpu_l3_cache",
        "gpu_driver",
        "gpu_capabilities",
        "host_id",
    ]


@pytest.fixture
def fresh_host_id():
    linreg.env.host_id.cache_clear()
    yield
    linreg.env.host_id.cache_clear()


def test_the_host_id_is_a_short_hash_that_never_holds_the_machine_id(
    monkeypatch, tmp_path, fresh_host_id
):
    machine_id = tmp_path / "machine-id"
    machine_id.write_text("0123456789abcdef0123456789abcdef\n")
    monkeypatch.setattr(linreg.env, "MACHINE_ID_FILES", (str(machine_id),))
    first = linreg.env.host_id()
    assert len(first) == 12 and int(first, 16) >= 0
    assert first not in machine_id.read_text()
    linreg.env.host_id.cache_clear()
    assert linreg.env.host_id() == first  # stable on one host
    machine_id.write_text("fedcba9876543210fedcba9876543210\n")
    linreg.env.host_id.cache_clear()
    assert linreg.env.host_id() != first  # another host, another id


def test_without_a_machine_id_the_host_id_is_a_hash_of_the_host_name(
    monkeypatch, tmp_path, fresh_host_id
):
    monkeypatch.setattr(linreg.env, "MACHINE_ID_FILES", (str(tmp_path / "absent"),))
    monkeypatch.setattr(linreg.env.platform, "node", lambda: "build-host-7")
    named = linreg.env.host_id()
    assert len(named) == 12 and "build" not in named
    linreg.env.host_id.cache_clear()
    monkeypatch.setattr(linreg.env.platform, "node", lambda: "build-host-8")
    assert linreg.env.host_id() != named


def test_the_fingerprint_holds_this_hosts_id():
    assert capture_environment()["host_id"] == linreg.env.host_id()
