import json

import pytest

from linreg.cli import main
from linreg.results.load import load_run


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_sweep_writes_a_result_set_and_prints_the_summary(in_tmp, capsys):
    assert main(["sweep", "--seeds", "0:20", "--epochs", "100", "--lrs", "0.01,0.02"]) == 0
    out = capsys.readouterr().out
    assert "40 members" in out and "weight" in out and "within ±0.01" in out
    (path,) = (in_tmp / "results" / "sweeps").iterdir()
    data = json.loads(path.read_text())
    assert data["kind"] == "sweep" and data["schema_version"] == 1
    assert data["seeds"] == list(range(20)) and data["lrs"] == [0.01, 0.02]
    assert len(data["members"]["weight"]) == 40 and len(data["band"]["median"]) == 100


def test_seed_list_and_out_file(in_tmp):
    assert main(["sweep", "--seeds", "3,5,8", "--epochs", "10", "--out", "s.json"]) == 0
    assert json.loads((in_tmp / "s.json").read_text())["seeds"] == [3, 5, 8]
    assert main(["sweep", "--seeds", "3,5,8", "--epochs", "10", "--out", "s.json"]) == 2


def test_check_flags_a_run_outside_the_band_with_exit_1(in_tmp, capsys):
    assert main(["sweep", "--seeds", "0:200", "--out", "ref.json"]) == 0
    assert main(["train", "--engine", "batched", "--out", "good"]) == 0
    assert main(["train", "--lr", "0.0001", "--out", "slow"]) == 0
    capsys.readouterr()
    assert main(["sweep", "--check", "good", "--against", "ref.json"]) == 0
    assert "inside the band" in capsys.readouterr().out
    assert main(["sweep", "--check", "slow", "--against", "ref.json"]) == 1
    assert "sweep --check: FAIL: leaves the band at epoch" in capsys.readouterr().err


def test_train_with_engine_batched_writes_a_valid_run_folder(in_tmp):
    assert main(["train", "--engine", "batched", "--seed", "42", "--out", "r"]) == 0
    run = load_run(in_tmp / "r")
    assert run.config.engine == "batched" and run.config.seed == 42
    assert run.final_weight == 0.798669695854187  # the eager tutorial run's weight, exactly
    assert (in_tmp / "r" / "history.csv").exists() and (in_tmp / "r" / "model.pth").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "5:2"], "--seeds: range '5:2' is empty"),
        (["--seeds", "x"], "--seeds: 'x' is not an integer"),
        (["--seeds", ""], "--seeds: empty item in ''"),
        (["--seeds", "-3:2"], "--seeds: '-3:2' must be >= 0"),
        (["--lrs", "0.1,-1"], "--lrs: every value must be a finite number > 0, got '-1'"),
        (["--lrs", "0.1,,"], "--lrs: empty item in '0.1,,'"),
        (["--lrs", "nan"], "--lrs: every value must be a finite number > 0, got 'nan'"),
        (["--epochs", "0"], "--epochs: must be in [1, 1e+07], got 0"),
        (["--tolerance", "-1"], "--tolerance: must be a finite number >= 0"),
        (["--tolerance", "nan"], "--tolerance: must be a finite number >= 0, got nan"),
        (["--check", "nowhere"], "--against: --check needs --against"),
    ],
)
def test_bad_input_is_one_line_exit_2(in_tmp, capsys, args, message):
    assert main(["sweep", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (in_tmp / "results").exists()
