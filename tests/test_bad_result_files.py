"""Malformed result files are refused with one line naming the file, by report and compare."""

import json
from pathlib import Path

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


BENCH_FILE = Path(__file__).parent / "data" / "bench_quick.json"


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("datetime", 5, "datetime must be a string, not 5"),
        ("linreg_process", "1", "machine_info.linreg_process must be an integer, not '1'"),
        ("linreg_process", True, "machine_info.linreg_process must be an integer, not True"),
        ("linreg_session", 7, "machine_info.linreg_session must be a string, not 7"),
        ("linreg_machine", ["m"], "machine_info.linreg_machine must be a string, not ['m']"),
        ("linreg_environment", 3, "machine_info.linreg_environment must be an object, not 3"),
        ("cpu", {"flags": 5}, "machine_info.cpu.flags must be a list of strings"),
        ("stats.median", "fast", "stats.median must be a number, not 'fast'"),
        ("extra_info.size", "big", "extra_info.size must be an integer, not 'big'"),
    ],
)
def test_a_benchmark_file_with_a_field_of_the_wrong_type_is_refused_by_name(
    tmp_path, capsys, command, field, value, message
):
    """One such file among good ones of the same session (where sessions are sorted by their
    start and processes by their index) is one line naming it and exit 2, never a traceback
    with the exit code of a failed check."""
    good = json.loads(BENCH_FILE.read_text())
    good["machine_info"].update(linreg_session="s1", linreg_process=0)
    bad = json.loads(json.dumps(good))
    if field == "datetime":
        bad["datetime"] = value
    elif "." in field:
        part, key = field.split(".")
        bad["benchmarks"][0][part][key] = value
    else:
        bad["machine_info"][field] = value
    (tmp_path / "0001_good.json").write_text(json.dumps(good))
    (tmp_path / "0002_bad.json").write_text(json.dumps(bad))
    args = [command, str(tmp_path)] + ([str(tmp_path)] if command == "compare" else [])
    assert main([*args, "--out", str(tmp_path / "r.html")] if command == "report" else args) == 2
    err = capsys.readouterr().err
    assert "0002_bad.json: malformed pytest-benchmark record" in err, err
    assert message in err and err.count("\n") == 1, err
