from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from linreg.cli import main
from linreg.cli.console import console
from linreg.config import TrainConfig
from linreg.engines import train
from linreg.errors import ConfigError
from linreg.results.files import read_json
from linreg.results.kinds import REPRO_CHECKS_FILE as CHECKS
from linreg.results.kinds import REPRO_COPIES as COPIES
from linreg.results.kinds import REPRO_MANIFEST_FILE as MANIFEST
from linreg.suites.repro import (
    ReproError,
    check_pairs,
    golden_check,
    repro,
    resume_repro,
    start_result_dir,
    update_references,
)
from linreg.suites.repro_options import ReproMatrix, ReproOptions, parse_requirements
from linreg.suites.repro_worker import run_file, train_all
from linreg.tolerance import default_tolerances

# A short run keeps each worker process to well under a second of training.
SHORT = TrainConfig(epochs=40, eval_every=10)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(console, "width", 300)


def small_matrix() -> ReproMatrix:
    return ReproMatrix(devices=("cpu",), dtypes=("float32",), seeds=(42,), threads=(1, None),
                       base=SHORT)  # fmt: skip


def small_options(**changes) -> ReproOptions:
    return ReproOptions(small_matrix(), **{"reference_dir": None, **changes})


def test_every_check_holds_and_is_written(tmp_path, capsys) -> None:
    report = repro(small_options(), results_root=tmp_path)
    assert report.ok, [c.reason for c in report.failures]
    kinds = {c.kind for c in report.checks}
    assert kinds == {"determinism", "checkpoint", "consistency", "resume"}
    written = read_json(report.result_dir / CHECKS)
    assert written["ok"] is True and len(written["checks"]) == len(report.checks)
    # Both copies came from their own process: one file per config in each copy's folder.
    for copy in COPIES:
        assert len(list((report.result_dir / copy).glob("*.json"))) == 3
    # ... and the result set, compared with itself, passes.
    assert main(["compare", str(report.result_dir), str(report.result_dir)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "numerics hold (3 pairs of the same config on the same stack: bit-identical needed, "
        "reached)" in out
    )


def determinism_check_with_epoch_17_changed(change):
    """The determinism check of a float64 run against a copy whose train loss at epoch 17 is
    change(the loss)."""
    matrix = ReproMatrix(devices=("cpu",), dtypes=("float64",), seeds=(0,), threads=(1,),
                         base=SHORT)  # fmt: skip
    [config] = matrix.configs()
    run = train(config)
    losses = list(run.history.train_loss)
    losses[17] = change(losses[17])
    other = dataclasses.replace(
        run, history=dataclasses.replace(run.history, train_loss=tuple(losses))
    )
    checks = check_pairs(matrix, {config.config_id: (run, other)}, default_tolerances(),
                         parse_requirements([]), None)  # fmt: skip
    [determinism] = [c for c in checks if c.kind == "determinism"]
    return determinism


def test_determinism_failure_names_the_epoch_and_the_ulp_distance(tmp_path) -> None:
    determinism = determinism_check_with_epoch_17_changed(lambda x: float(np.nextafter(x, 1.0)))
    assert not determinism.holds
    assert "first differing epoch 17" in determinism.reason
    assert "max ULP 1" in determinism.reason


def test_a_failure_beyond_tolerance_gives_the_distance_not_a_ulp_count(tmp_path) -> None:
    determinism = determinism_check_with_epoch_17_changed(lambda x: x + 0.5)
    assert not determinism.holds
    assert "beyond tolerance from epoch 17" in determinism.reason
    assert "max ULP" not in determinism.reason and "final |Δw|" in determinism.reason


def test_interrupted_run_resumes_without_redoing_or_mixing(tmp_path) -> None:
    options = small_options()
    result_dir = start_result_dir(options, tmp_path)
    configs = options.matrix.configs()
    # What an interruption leaves: the first copy finished one config, plus a killed temp file.
    first = result_dir / COPIES[0]
    train_all(configs[:1], first)
    kept = run_file(first, configs[0])
    before = kept.read_bytes()
    (first / ".stale.json.partial").write_text("{half")
    report = resume_repro(result_dir)
    assert report.ok and report.result_dir == result_dir
    assert kept.read_bytes() == before
    assert not list(result_dir.rglob("*.partial"))
    assert len(list(tmp_path.iterdir())) == 1  # no second result set
    with pytest.raises(ReproError, match="already finished"):
        resume_repro(result_dir)


def test_resume_on_another_stack_is_refused(tmp_path) -> None:
    result_dir = start_result_dir(small_options(), tmp_path)
    manifest = read_json(result_dir / MANIFEST)
    manifest["stack"]["torch"] = "1.0.0"
    (result_dir / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ReproError, match="must not mix two stacks"):
        resume_repro(result_dir)


@pytest.mark.parametrize("samples", [None, 40])  # the tutorial's 40 training points; 32 of 40
def test_one_and_two_threads_are_bitwise_equal_on_small_data(samples) -> None:
    one = train(SHORT.replace(samples=samples, threads=1))
    two = train(SHORT.replace(samples=samples, threads=2))
    assert one.history == two.history and one.state_hash == two.state_hash


@pytest.mark.slow
def test_one_and_two_threads_differ_at_a_million_samples() -> None:
    config = TrainConfig(samples=1_000_000, epochs=20, eval_every=10)
    one, two = train(config.replace(threads=1)), train(config.replace(threads=2))
    assert one.history.train_loss != two.history.train_loss


def test_requirement_option_is_validated() -> None:
    assert parse_requirements(["threads=c"])["threads"] == "c"
    with pytest.raises(ConfigError, match="expected PAIR=LEVEL"):
        parse_requirements(["threads=e"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dtypes", "float8"], "--dtypes: unknown 'float8'"),
        (["--devices", "cuda"], "CUDA is not available"),
        (["--require", "speed=a"], "--require: expected PAIR=LEVEL"),
        (["--threads", "0"], "--threads: expected integers >= 1 or 'all'"),
        (["--resume", "nowhere"], "no such file"),
        (["--outcome-steps", "-1"], "--outcome-steps: must be an integer >= 0, got -1"),
        (["--seeds", "3:1"], "--seeds: range '3:1' is empty"),
    ],
)
def test_cli_bad_input_is_exit_2(args, message, tmp_path, capsys) -> None:
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["repro", "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_update_reference_then_golden_check(tmp_path, capsys) -> None:
    refs = tmp_path / "refs"
    args = ["repro", "--out", str(tmp_path / "out"), "--reference-dir", str(refs),
            "--dtypes", "float32", "--seeds", "1", "--threads", "1", "--epochs", "40"]  # fmt: skip
    assert main([*args, "--update-reference"]) == 0
    assert "cpu-float32-seed1-threads1-eager-cfg" in capsys.readouterr().out
    [written] = [p for p in refs.glob("*.json") if "float32" in p.name and "-cfg" in p.name]
    assert written.stat().st_mode & 0o777 == 0o644  # shared like any result, not 0600
    # A planted fault in the reference: its train loss off by 1e-3 from epoch 30.
    record = json.loads(written.read_text())
    record["history"]["train_loss"][30:] = [v + 1e-3 for v in record["history"]["train_loss"][30:]]
    written.write_text(json.dumps(record))
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "FAIL golden" in out and "beyond tolerance from epoch 30" in out
    # Another config has no reference: unchecked, not failed against one made for another question.
    assert main([*args, "--lr", "0.0101"]) == 0
    assert "golden references: 0 of 2 runs have one" in capsys.readouterr().out


def test_update_reference_says_what_it_changes(tmp_path) -> None:
    run = train(SHORT)
    assert [c.status for c in update_references([run], tmp_path, default_tolerances())] == ["new"]
    [same] = update_references([run], tmp_path, default_tolerances())
    assert (same.status, same.detail) == ("unchanged", "bit-identical")
    # Training changed (lr 0.02 inside the code) while the config stayed: the reference changes.
    changed_run = dataclasses.replace(train(SHORT.replace(lr=0.02)), config=run.config)
    [changed] = update_references([changed_run], tmp_path, default_tolerances())
    assert changed.status == "changed" and "first differing epoch 0" in changed.detail
    [check] = golden_check(changed_run, tmp_path, default_tolerances())
    assert check.holds


def test_default_matrix_uses_the_devices_present() -> None:
    matrix = ReproMatrix.default()
    assert matrix.devices[0] == "cpu"
    configs = matrix.configs()
    assert len(configs) == len(matrix.devices) * 2 * 3 * 2
    assert {c.threads for c in configs} == {1, None}


def test_resume_keeps_the_options_of_the_run_it_finishes(tmp_path, capsys) -> None:
    # Started with --no-golden: resumed, it must not grow golden checks (nor fail on them).
    result_dir = start_result_dir(small_options(reference_dir=None), tmp_path)
    assert main(["repro", "--resume", str(result_dir)]) == 0
    out = capsys.readouterr().out
    assert "golden references:" not in out
    checks = read_json(result_dir / CHECKS)
    assert {c["kind"] for c in checks["checks"]} == {
        "determinism", "checkpoint", "consistency", "resume"
    }  # fmt: skip
    assert checks["options"]["matrix"]["base"]["epochs"] == SHORT.epochs


def test_resume_refuses_other_options_naming_them(tmp_path, capsys) -> None:
    result_dir = start_result_dir(small_options(), tmp_path)
    args = ["repro", "--resume", str(result_dir), "--dtypes", "float64", "--golden",
            "--seeds", "42", "--epochs", "40"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"--resume: {result_dir} was started with --dtypes float32 (given float64); " in err
    assert "--golden off (given on): a resumed run keeps the options" in err
    assert "--seeds" not in err and "--epochs" not in err  # given as they were
    assert not (result_dir / COPIES[0]).exists()  # refused before any work


# The command line the small matrix is started with; repeated with --resume, it is accepted.
SMALL_MATRIX_ARGS = ["--devices", "cpu", "--dtypes", "float32", "--seeds", "42",
                     "--threads", "1,all", "--epochs", "40", "--no-golden"]  # fmt: skip


def test_resume_accepts_the_options_it_was_started_with(tmp_path, capsys) -> None:
    result_dir = start_result_dir(small_options(), tmp_path)
    assert main(["repro", "--resume", str(result_dir), *SMALL_MATRIX_ARGS]) == 0
    assert read_json(result_dir / CHECKS)["ok"] is True
    capsys.readouterr()
    # Finished: said as such, with the options given again too.
    assert main(["repro", "--resume", str(result_dir), *SMALL_MATRIX_ARGS]) == 2
    assert "already finished" in capsys.readouterr().err


def test_resume_with_its_own_options_on_another_torch_says_so(tmp_path, capsys) -> None:
    result_dir = start_result_dir(small_options(), tmp_path)
    manifest = read_json(result_dir / MANIFEST)
    manifest["stack"]["torch"] = "1.0.0"
    (result_dir / MANIFEST).write_text(json.dumps(manifest))
    assert main(["repro", "--resume", str(result_dir), *SMALL_MATRIX_ARGS]) == 2
    assert "must not mix two stacks" in capsys.readouterr().err


def test_a_matrix_of_another_config_has_no_golden_references(tmp_path, capsys) -> None:
    args = ["repro", "--samples", "100", "--dtypes", "float32", "--seeds", "42", "--threads", "1",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    assert "golden references: 0 of 2 runs have one" in capsys.readouterr().out


def test_the_default_repro_fits_an_80_column_terminal(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(console, "width", 80)
    assert main(["repro", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    # Lines naming a path may be longer: the terminal wraps them. Count the rows they take.
    assert sum(max(1, -(-len(line) // 80)) for line in lines) <= 60, captured.out
    table = [line for line in lines if line[:1] in "┏┃┡│└" or line.startswith(" ")]
    assert table and max(len(line) for line in table) <= 80
    assert lines[-1] == "repro: OK: 51 of 51 checks hold"  # 3 of them resume checks
    # Off a terminal (as here), progress comes as plain lines on stderr while the work runs.
    assert "repro: runs: 27 of 27" in captured.err  # 12 configs twice, 3 resumed


@pytest.mark.parametrize(
    ("wide", "title", "not_title"),
    [
        ([], "linreg repro: checks by kind and pair (--wide lists each)", "every check"),
        (["--wide"], "linreg repro: every check", "by kind"),
    ],
)
def test_the_repro_table_title_says_what_the_table_holds(
    tmp_path, capsys, wide, title, not_title
) -> None:
    args = ["repro", "--out", str(tmp_path), "--dtypes", "float32", "--seeds", "42",
            "--threads", "1", "--epochs", "40", "--no-golden", *wide]  # fmt: skip
    assert main(args) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    [heading] = [line for line in lines if line.startswith("linreg repro")]  # the table's title
    assert heading == title and not_title not in heading
