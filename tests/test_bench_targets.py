"""A target's bench cases: selected only with --target, ids naming the target's code hash (a
changed target is a new case), extra_info holding its name, spec, hash and size.

Timings are never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from linreg.cli import main
from linreg.errors import ConfigError
from linreg.suites.bench_request import BenchRequest
from linreg.suites.bench_selection import KINDS, TARGET_KINDS, parse_selection
from linreg.target_loading import load_target
from tests.target_files import USER_TARGET, variant, write

REPO_ROOT = Path(__file__).resolve().parent.parent


def _pytest_bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    command = [sys.executable, "-m", "pytest", "bench", "-p", "no:cacheprovider", "-q",
               "--instructions=no", "--op-counts=no",
               f"--benchmark-storage=file://{tmp_path / 'storage'}", *args]  # fmt: skip
    return subprocess.run(command, cwd=REPO_ROOT, env={**env, "PYTHONPATH": str(REPO_ROOT)},
                          capture_output=True, text=True, check=False)  # fmt: skip


def test_a_target_makes_the_target_kinds_the_default_and_the_tutorial_keeps_its_own():
    assert parse_selection(target="mlp").kinds == TARGET_KINDS
    assert parse_selection(target="mlp", kinds="target_step").kinds == ("target_step",)
    assert parse_selection().kinds == KINDS and parse_selection(quick=True).target is None
    # The tutorial named as a target is the tutorial's own suite.
    assert parse_selection(target="tutorial", quick=True).kinds == ("train", "inference")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kinds": "target_step"}, "target_step is a target's case: give --target too"),
        ({"target_size": "ci"}, "names a target's size: give --target too"),
        ({"target": "mlp", "target_size": "ci,full"}, "must name one of the target's sizes"),
    ],
)
def test_target_options_without_a_target_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        parse_selection(**kwargs)


def test_the_request_passes_the_target_and_its_size_to_the_suite():
    args = BenchRequest(parse_selection(target="mlp", target_size="full")).pytest_args()
    assert "--target=mlp" in args and "--target-size=full" in args
    assert not [a for a in BenchRequest(parse_selection()).pytest_args() if "target" in a]


@pytest.fixture(scope="module")
def mlp_cases(tmp_path_factory) -> list[dict]:
    folder = tmp_path_factory.mktemp("bench-mlp")
    out = folder / "bench.json"
    result = _pytest_bench(folder, "--target=mlp", "--quick", f"--benchmark-json={out}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text())["benchmarks"]


def test_the_mlp_cases_are_stored_with_their_code_hash(mlp_cases):
    _, ref = load_target("mlp")
    ids = {c["fullname"] for c in mlp_cases}
    part = f"mlp-{ref.short_hash}-ci-cpu-float32-seed42-eager"
    assert ids == {f"bench_target.py::bench_target_step[{part}]",
                   f"bench_target.py::bench_target_inference[{part}]"}  # fmt: skip
    for case in mlp_cases:
        info = case["extra_info"]
        assert (info["target"], info["target_spec"], info["code_hash"], info["target_size"]) == (
            "mlp",
            "mlp",
            ref.code_hash,
            "ci",
        )
    (step,) = [c for c in mlp_cases if c["extra_info"]["kind"] == "target_step"]
    info = step["extra_info"]
    assert info["steps"] == load_target("mlp")[0].sizes["ci"]["steps"]
    assert info["step_us"] == pytest.approx(info["train_seconds"] / info["steps"] * 1e6)
    assert step["stats"]["rounds"] == 3  # the quick profile's train rounds


def _collected(tmp_path: Path, spec: str) -> list[str]:
    result = _pytest_bench(tmp_path, f"--target={spec}", "--quick", "--collect-only")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return sorted(line for line in result.stdout.splitlines() if "::" in line)


def test_a_changed_target_is_a_new_case_never_the_old_one(tmp_path):
    path = write(tmp_path, "model.py", USER_TARGET)
    before = _collected(tmp_path, f"{path}:Net")
    write(tmp_path, "model.py", variant("nn.ReLU()", "nn.Tanh()"))
    after = _collected(tmp_path, f"{path}:Net")
    assert len(before) == len(after) == 2
    assert not set(before) & set(after)
    old_hash, new_hash = before[0].split("[net-")[1][:12], after[0].split("[net-")[1][:12]
    assert old_hash != new_hash and all(new_hash in name for name in after)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nosuch.py:Net"], "--target: nosuch.py:Net: "),
        (["--target", "mlp", "--size", "huge"], "has no size 'huge'"),
        (["--size", "ci"], "--size: names a target's size: give --target too"),
    ],
)
def test_bench_command_bad_target_is_one_line_and_exit_2(capsys, args, message):
    assert main(["bench", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_target_overhead_case_stores_both_loops_and_their_ratio(tmp_path):
    """The figures are stored, never asserted: the bound is a benchmark's, not a test's."""
    path = write(tmp_path, "model.py", USER_TARGET)
    out = tmp_path / "bench.json"
    result = _pytest_bench(tmp_path, f"--target={path}:Net", "--kinds=target_overhead",
                           "--quick", f"--benchmark-json={out}")  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (bench,) = json.loads(out.read_text())["benchmarks"]
    info = bench["extra_info"]
    assert bench["fullname"].startswith("bench_target.py::bench_target_overhead[net-")
    assert info["same_losses"] is True  # the bare loop trains what the harness trains
    assert len(info["candidate_s"]) == len(info["reference_s"]) == bench["stats"]["rounds"] == 5
    assert info["ratio"] == info["candidate_median_s"] / info["reference_median_s"]
    assert info["max_ratio"] == 1.05 and info["meets_target"] == (info["ratio"] <= 1.05)
