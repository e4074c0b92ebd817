"""Malformed result files are refused with one line naming the file, by report and compare."""

import json

import pytest

from linreg.cli import main


@pytest.fixture(scope="module")
def run_record(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    assert main(["train", "--epochs", "20", "--eval-every", "5", "--out", str(out)]) == 0
    return json.loads((out / "run.json").read_text())


def broken(record, case):
    data = json.loads(json.dumps(record))
    if case == "empty history":
        data["history"]["train_loss"] = []
    elif case == "no parameters":
        data["final_state"] = {}
    elif case == "environment not an object":
        data["environment"] = [1]
    return data


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty history", "history has 0 epochs, config says 20"),
        ("no parameters", "parameters must be linear.weight and linear.bias"),
        ("environment not an object", "environment must be an object"),
    ],
)
def test_malformed_run_records_are_refused(tmp_path, capsys, run_record, command, case, message):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(broken(run_record, case)))
    args = [command, str(path)] + ([str(path)] if command == "compare" else [])
    assert main([*args, "--out", str(tmp_path / "r.html")] if command == "report" else args) == 2
    err = capsys.readouterr().err
    assert f"x.json: malformed run record ({message})" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"kind": "sweep"}, "sweep schema_version None"),
        ({"kind": "sweep", "schema_version": 1}, "malformed sweep record (missing 'config')"),
        (
            {"kind": "repro-checks", "schema_version": 2, "checks": [{"kind": "consistency"}]},
            "malformed repro-checks record",
        ),
        ({"benchmarks": [], "machine_info": 5}, "malformed"),
    ],
)
def test_report_refuses_other_malformed_results(tmp_path, capsys, content, message):
    (tmp_path / "x.json").write_text(json.dumps(content))
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--dtype", "float16", "--lr", "1e5"], "--lr: 100000.0 does not fit in float16"),
        (["train", "--step", "1e-12"], "--step: 1000000000000 samples is more than"),
        (["sweep", "--seeds", "0:99999999999"], "--seeds: '0:99999999999' is more than"),
    ],
)
def test_inputs_too_large_for_the_machine_are_refused(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
