"""The benchmark suite's plumbing: selection, skips, machine names, loading, `linreg bench`.

Timings are never asserted here; the suite's numbers live in results/bench/.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import linreg.suites.bench_selection as bench_selection
from linreg.cli import main
from linreg.config import DTYPES, ENGINES
from linreg.errors import ConfigError, ResultSetError
from linreg.machine import default_machine_name, validate_machine_name
from linreg.paths import RESULTS_VARIABLE
from linreg.report.frames import COLUMNS, load_bench_frame
from linreg.suites.bench_request import BenchRequest
from linreg.suites.bench_selection import (
    INFERENCE_BATCHES,
    KINDS,
    OVERHEAD_COMPARISONS,
    SWEEP_SIZES,
    parse_selection,
    skip_reason,
)
from tests.quick_inference_bench import COUNTED, NOT_COUNTED, quick_inference_bench

REPO_ROOT = Path(__file__).resolve().parent.parent
QUICK_FILE = Path(__file__).parent / "data" / "bench_quick.json"


def test_default_selection_is_the_full_matrix_with_every_engine():
    selection = parse_selection()
    assert selection.devices == ("cpu", "cuda", "mps")
    assert selection.dtypes == DTYPES
    assert selection.engines == ENGINES  # engines added to linreg.config appear by themselves
    assert selection.kinds == KINDS
    assert selection.seeds == (42,)
    assert selection.sweep_sizes() == SWEEP_SIZES
    assert selection.inference_batches() == INFERENCE_BATCHES


def test_quick_is_cpu_float32_train_and_inference_but_explicit_options_win():
    quick = parse_selection(quick=True)
    assert (quick.devices, quick.dtypes, quick.engines) == (("cpu",), ("float32",), ("eager",))
    assert quick.kinds == ("train", "inference") and quick.quick
    assert parse_selection(dtypes="float64", quick=True).dtypes == ("float64",)


def test_lists_are_parsed_deduplicated_and_sizes_accept_exponents():
    selection = parse_selection(
        devices="cpu, cuda,cpu", seeds="1,2", sizes="40,1e3,1e7", kinds="epoch"
    )
    assert selection.devices == ("cpu", "cuda")
    assert selection.seeds == (1, 2)
    assert selection.sizes == (40, 1000, 10_000_000)
    assert selection.sweep_sizes() == selection.inference_batches() == (40, 1000, 10_000_000)


@pytest.mark.parametrize(
    ("option", "text", "message"),
    [
        ("devices", "gpu", r"devices: unknown 'gpu'; choose from cpu, cuda, mps"),
        ("dtypes", "float8", r"dtypes: unknown 'float8'"),
        ("engines", "turbo", r"engines: unknown 'turbo'"),
        ("kinds", "train,,epoch", r"kinds: empty item"),
        ("seeds", "x", r"seeds: 'x' is not an integer"),
        ("sizes", "1", r"sizes: '1' must be >= 2"),
    ],
)
def test_bad_selection_names_the_option(option, text, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_selection(**{option: text})
    assert caught.value.field == option


def test_absent_cuda_is_skipped_with_the_reason(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert skip_reason("cuda", "float32").startswith("cuda not available")


def test_absent_mps_and_mps_float64_are_skipped_with_the_reason(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert skip_reason("mps", "float32").startswith("mps not available")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert skip_reason("mps", "float64") == "mps has no float64"


def test_a_dtype_whose_kernels_fail_is_skipped_not_failed(monkeypatch):
    def missing_kernel(*args, **kwargs):
        raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Half'\nmore detail")

    bench_selection._probe.cache_clear()
    monkeypatch.setattr("linreg.model.build_model", missing_kernel)
    try:
        reason = skip_reason("cpu", "float16")
    finally:
        bench_selection._probe.cache_clear()
    assert reason == (
        "float16 training does not run on cpu: \"addmm_impl_cpu_\" not implemented for 'Half'"
    )


def test_cpu_float32_runs_here():
    assert skip_reason("cpu", "float32") is None


def test_machine_name_is_stable_and_follows_cpu_cores_and_gpus():
    base = {"cpu": "AMD EPYC 7R13 Processor", "cpu_count": 16, "gpus": []}
    name = default_machine_name(**base)
    assert name == default_machine_name(**base) == "amd-epyc-7r13-16c"
    assert default_machine_name() == default_machine_name()  # this machine, twice
    others = [
        default_machine_name(**{**base, "cpu": "Intel(R) Xeon(R) Platinum 8480+"}),
        default_machine_name(**{**base, "cpu_count": 8}),
        default_machine_name(**{**base, "gpus": ["NVIDIA H200"]}),
        default_machine_name(**{**base, "gpus": ["NVIDIA H200", "NVIDIA H200"]}),
        default_machine_name(**{**base, "gpus": ["NVIDIA A100-SXM4-80GB"]}),
    ]
    assert len({name, *others}) == 6
    assert others[2] == "amd-epyc-7r13-16c-h200" and others[3] == "amd-epyc-7r13-16c-2x-h200"
    for other in others:
        assert validate_machine_name(other) == other


@pytest.mark.parametrize("bad", ["", "Bad Name", "../up", "-lead", "a/b", "x" * 101])
def test_bad_machine_names_are_refused(bad):
    with pytest.raises(ConfigError, match=r"machine: .* is not a machine name"):
        validate_machine_name(bad)


def test_stored_quick_run_loads_into_one_row_per_case():
    frame = load_bench_frame([QUICK_FILE])
    assert list(frame.columns) == list(COLUMNS)
    assert sorted(frame["kind"].unique()) == ["inference", "train"]
    assert len(frame) == 1 + len(INFERENCE_BATCHES)
    assert set(frame["device"]) == {"cpu"} and set(frame["dtype"]) == {"float32"}
    train = frame[frame["kind"] == "train"].iloc[0]
    assert train["size"] == 40 and train["epoch_us"] > 0 and train["rounds"] >= 3
    assert train["median_s"] >= train["min_s"] > 0
    inference = frame[frame["kind"] == "inference"].sort_values("size")
    assert list(inference["size"]) == list(INFERENCE_BATCHES)
    assert (inference["gb_per_s"] > 0).all() and (frame["peak_bytes"] > 0).all()
    assert frame["file"].eq(str(QUICK_FILE)).all() and frame["machine"].notna().all()


def test_a_folder_is_searched_recursively(tmp_path):
    nested = tmp_path / "m" / "Linux-CPython-3.11-64bit"
    nested.mkdir(parents=True)
    (nested / "0001_x.json").write_bytes(QUICK_FILE.read_bytes())
    (nested / "0002_x.json").write_bytes(QUICK_FILE.read_bytes())
    assert len(load_bench_frame([tmp_path])) == 2 * (1 + len(INFERENCE_BATCHES))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"no such file or folder"),
        ("{not json", r"not readable JSON"),
        ('{"runs": []}', r"not a pytest-benchmark file"),
        ('{"benchmarks": [{"name": "x"}], "machine_info": {}}', r"missing 'fullname'"),
        (
            '{"benchmarks": [{"fullname": "x", "stats": {"data": [0.1, NaN]}}], '
            '"machine_info": {}}',
            r"x: a round of nan is not a time in seconds",
        ),
    ],
)
def test_unreadable_input_raises_one_line(tmp_path, content, message):
    path = tmp_path / "bench.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ResultSetError, match=message) as caught:
        load_bench_frame([path])
    assert "\n" not in str(caught.value)


def test_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(ResultSetError, match=r"no benchmark JSON files"):
        load_bench_frame([tmp_path])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--devices", "gpu"], "--devices: unknown 'gpu'"),
        (["--seeds", "1.5"], "--seeds: '1.5' is not an integer"),
        (["--machine", "Bad Name"], "--machine: 'Bad Name' is not a machine name"),
    ],
)
def test_bench_command_bad_input_is_one_line_and_exit_2(capsys, args, message):
    assert main(["bench", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bench_command_refuses_to_overwrite_a_json_file(tmp_path, capsys):
    existing = tmp_path / "out.json"
    existing.write_text("{}")
    assert main(["bench", "--quick", "--json", str(existing)]) == 2
    assert "exists; results are never overwritten" in capsys.readouterr().err


def test_pytest_bench_quick_writes_a_json_that_pytest_benchmark_compare_reads(request, tmp_path):
    """End to end on a tiny selection: real cpu cases, and cuda ones skipped with their reason."""
    run = quick_inference_bench(request)
    assert run.exit_code == 0, run.stdout + run.stderr
    out = run.json_path
    if not torch.cuda.is_available():
        assert "SKIPPED" in run.stdout and "cuda not available" in run.stdout
    data = run.data
    assert data["machine_info"]["linreg_machine"] == "e2e-test"
    assert data["machine_info"]["linreg_environment"]["torch"] == torch.__version__
    benches = {b["fullname"]: b for b in data["benchmarks"]}
    assert sorted(benches) == sorted([COUNTED, NOT_COUNTED])
    bench = benches[COUNTED]
    assert len(bench["stats"]["data"]) == bench["stats"]["rounds"]
    assert bench["extra_info"]["kind"] == "inference" and bench["extra_info"]["size"] == 10
    # The quick profile counts the CPU cases' instructions under Valgrind by default (CI
    # installs it), here narrowed to one: inference on 10 samples is ~80 k a call on x86-64.
    if shutil.which("valgrind"):
        assert data["machine_info"]["linreg_instructions"] == "counted by callgrind"
        assert 10_000 < bench["extra_info"]["instructions"] < 1_000_000, bench["extra_info"]
    compare = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert compare.returncode == 0 and "bench_inference" in compare.stdout, compare.stderr


def test_bench_command_stores_per_machine_and_prints_a_summary(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("LINREG_RESULTS", str(tmp_path))
    args = ["--quick", "--kinds", "inference", "--sizes", "10", "--machine", "cli-test"]
    # Instruction counting (Valgrind) is the test above's: here only what `linreg bench` stores.
    assert main(["bench", *args, "--", "-q", "-p", "no:cacheprovider", "--instructions=no"]) == 0
    out = capfd.readouterr().out
    (saved,) = (tmp_path / "bench" / "cli-test").glob("*/0001_*.json")
    assert saved.parent.name.startswith(("Linux-", "Darwin-", "Windows-"))  # pytest-benchmark's id
    assert "inference[cpu-float32-seed42-eager-n10]" in out and "saved" in out
    frame = load_bench_frame([tmp_path])
    assert list(frame["machine"]) == ["cli-test"] and list(frame["size"]) == [10]


def test_without_valgrind_the_suite_says_so_in_one_line_and_keeps_wall_time(tmp_path):
    """The quick profile counts instructions; where Valgrind is missing it says so and goes on."""
    bin_dir = tmp_path / "bin"  # a PATH with python but without valgrind
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "--quick", "--kinds=inference", "--sizes=10",
         f"--benchmark-json={out}", f"--benchmark-storage=file://{tmp_path / 'storage'}",
         "-p", "no:cacheprovider"],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "PATH": str(bin_dir)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("valgrind not found") == 1
    assert "no instruction counts, wall time alone" in result.stdout
    data = json.loads(out.read_text())
    assert data["machine_info"]["linreg_instructions"].startswith("not counted: valgrind")
    (bench,) = data["benchmarks"]
    assert "instructions" not in bench["extra_info"] and bench["stats"]["rounds"] >= 1


def _pytest_bench(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    # No instruction counting (a minute under Valgrind): these tests are about the suite's plumbing.
    command = [sys.executable, "-m", "pytest", "bench", "-p", "no:cacheprovider",
               "--instructions=no", *args]  # fmt: skip
    storage = f"--benchmark-storage=file://{tmp_path / 'storage'}"  # never the checkout's results/
    return subprocess.run(
        [*command, storage], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_overhead_kind_has_one_case_per_comparison(tmp_path):
    result = _pytest_bench(tmp_path, "--kinds=overhead", "--collect-only", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    cases = [line for line in result.stdout.splitlines() if "::" in line]
    assert cases == [f"bench_overhead.py::bench_overhead[{c}]" for c in OVERHEAD_COMPARISONS]
    assert OVERHEAD_COMPARISONS == ("train", "sweep", "cli_help", "cli_env")


def test_overhead_case_stores_both_sides_and_their_ratio(tmp_path):
    """The train comparison end to end: its figures are stored, never asserted."""
    out = tmp_path / "bench.json"
    args = ["--quick", "--kinds=overhead", "-k", "train", "--machine=e2e-test"]
    result = _pytest_bench(tmp_path, *args, f"--benchmark-json={out}")
    assert result.returncode == 0, result.stdout + result.stderr
    (bench,) = json.loads(out.read_text())["benchmarks"]
    assert bench["fullname"] == "bench_overhead.py::bench_overhead[train]"
    info = bench["extra_info"]
    assert (info["kind"], info["comparison"], info["engine"]) == ("overhead", "train", "eager")
    assert len(info["candidate_s"]) == len(info["reference_s"]) == bench["stats"]["rounds"] == 5
    assert info["candidate_median_s"] == pytest.approx(bench["stats"]["median"], rel=0.2)
    assert info["ratio"] == info["candidate_median_s"] / info["reference_median_s"]
    assert info["max_ratio"] == 1.05 and info["meets_target"] == (info["ratio"] <= 1.05)
    pairs = [c / r for c, r in zip(info["candidate_s"], info["reference_s"], strict=True)]
    assert info["paired_ratio"] == statistics.median(pairs)
    assert {"candidate", "reference", "load_1min_before", "load_1min_after"} <= set(info)


def test_train_case_timing_loops_keeps_its_epoch_split_and_figures(quick_train_bench):
    # `pytest bench --quick --kinds=train --instructions=no`, run once for the session.
    out, _ = quick_train_bench
    (bench,) = json.loads(out.read_text())["benchmarks"]
    assert bench["fullname"] == "bench_train.py::bench_train[cpu-float32-seed42-eager]"
    info = bench["extra_info"]
    assert bench["stats"]["rounds"] == 3 and info["epochs"] == 500 and info["size"] == 40
    for key in ("train_seconds", "cold_epoch_us", "steady_epoch_us", "first_cold_epoch_us"):
        assert info[key] is not None, key
    # Measured, not inferred: each is a part of a run's loop time, so positive and smaller.
    for key in ("cold_epoch_us", "steady_epoch_us", "first_cold_epoch_us"):
        assert 0 < info[key] < info["train_seconds"] * 1e6, (key, info[key])


def test_the_train_cases_run_the_tutorials_optimizer_unless_asked():
    selection = parse_selection(quick=True)
    assert selection.optimizer_settings() == [("sgd", 0.0)]
    asked = parse_selection(optimizers="sgd,adam", momentums="0,0.9")
    assert asked.optimizer_settings() == [("sgd", 0.0), ("sgd", 0.9), ("adam", 0.0)]
    plain, both = BenchRequest(selection).pytest_args(), BenchRequest(asked).pytest_args()
    assert not any(a.startswith(("--optimizers", "--momentums")) for a in plain)
    assert "--optimizers=sgd,adam" in both
    assert "--momentums=0.0,0.9" in both


def test_a_bench_session_never_imports_hypothesis(tmp_path):
    # Hypothesis's pytest plugin imports the library at the session's end (0.85 s) though no
    # bench case uses it; a session collected with the runners' own options must not.
    args = BenchRequest(parse_selection(quick=True)).pytest_args()
    code = "import sys, pytest; pytest.main(sys.argv[1:]); print('hypothesis' in sys.modules)"
    # The session makes its storage folder even to collect: under a temporary results root.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), RESULTS_VARIABLE: str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code, "bench", "--co", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout[-2000:]


@pytest.mark.parametrize(
    ("option", "text", "message"),
    [
        ("optimizers", "rmsprop", r"optimizers: unknown 'rmsprop'; choose from sgd, adam"),
        ("momentums", "0.9,1", r"momentums: every value must be in \[0, 1\), got '1'"),
    ],
)
def test_bad_optimizer_selection_names_the_option(option, text, message):
    with pytest.raises(ConfigError, match=message):
        parse_selection(**{option: text})


def test_the_quick_profiles_case_ids_stay_and_other_optimizers_add_theirs(tmp_path):
    """Baselines key on case ids: the tutorial's plain SGD adds nothing to them."""

    def train_cases(*args: str) -> list[str]:
        result = _pytest_bench(tmp_path, "--quick", "--kinds=train", *args, "--collect-only", "-q")
        assert result.returncode == 0, result.stdout + result.stderr
        return [line for line in result.stdout.splitlines() if "::" in line]

    assert train_cases() == ["bench_train.py::bench_train[cpu-float32-seed42-eager]"]
    assert train_cases("--optimizers=sgd,adam", "--momentums=0,0.9") == [
        "bench_train.py::bench_train[cpu-float32-seed42-eager]",
        "bench_train.py::bench_train[cpu-float32-seed42-eager-sgd-momentum0.9]",
        "bench_train.py::bench_train[cpu-float32-seed42-eager-adam]",
    ]


def test_an_engine_that_steps_plain_sgd_skips_adam_with_the_reason(tmp_path):
    args = ["--quick", "--kinds=train", "--engines=batched", "--optimizers=adam", "-rs"]
    result = _pytest_bench(tmp_path, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "optimizer: adam runs on the eager engine only; the batched engine" in result.stdout
