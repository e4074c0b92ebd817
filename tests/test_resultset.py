from __future__ import annotations

import dataclasses
import json

import pytest

from linreg.cli import main
from linreg.cli.console import console
from linreg.errors import ResultSetError
from linreg.jobs.training import train_to_folder
from linreg.results import kinds
from linreg.results.resultset import load_result_set
from linreg.results.run_folder import run_record, write_run_folder
from linreg.run import Run
from linreg.state import state_from_json


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Tables fold long cells at 80 columns; the assertions read whole phrases."""
    monkeypatch.setattr(console, "width", 300)


@pytest.fixture
def run_folder(tutorial_run: Run, tmp_path):
    state = state_from_json(tutorial_run.final_state)
    return write_run_folder(tutorial_run, state, tmp_path / "run")


def test_run_folder_loads_as_one_run(run_folder, tutorial_run) -> None:
    result = load_result_set(run_folder)
    assert list(result.runs) == ["eager-float32-seed42-threadsall"]
    assert result.environment == tutorial_run.environment


def test_folder_of_result_files_merges_them(run_folder, tmp_path) -> None:
    (tmp_path / "bench.json").write_text(
        json.dumps(
            {
                "machine_info": {"node": "x"},
                "benchmarks": [{"fullname": "case", "stats": {"data": [1.0, 2.0]}}],
            }
        )
    )
    result = load_result_set(tmp_path)
    assert len(result.runs) == 1
    [bench] = result.bench_files
    assert [(c.fullname, c.rounds) for c in bench.cases] == [("case", (1.0, 2.0))]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file or folder"),
        ("{not json", "not readable JSON"),
        ('{"kind": "other"}', "not a linreg run, repro result or pytest-benchmark file"),
        ('{"kind": "run"}', "run schema_version None"),
        ('{"kind": "run", "schema_version": 1}', r"malformed run record \(missing 'config'\)"),
        ('{"machine_info": {}, "benchmarks": [{"fullname": "c"}]}', "missing 'stats'"),
        ('{"machine_info": {}, "benchmarks": [{"fullname": "c", "stats": {}}]}', "stats.data"),
    ],
)
def test_bad_input_is_one_precise_error(tmp_path, content, message) -> None:
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ResultSetError, match=message):
        load_result_set(path)


def test_empty_folder_is_refused(tmp_path) -> None:
    with pytest.raises(ResultSetError, match="holds no result files"):
        load_result_set(tmp_path)


def test_a_result_set_compared_with_itself_passes(run_folder, capsys) -> None:
    assert main(["compare", str(run_folder), str(run_folder)]) == 0
    out = capsys.readouterr().out
    assert "bit-identical" in out and "identical fingerprints" in out


def test_compare_names_the_first_diverging_epoch_across_dtypes(run_folder, tmp_path, capsys):
    from linreg.config import TrainConfig

    other = train_to_folder(TrainConfig(dtype="float64"), out_dir=tmp_path / "f64").folder
    # A dtype pair needs the same outcome, which it keeps beyond the horizon: it holds.
    assert main(["compare", str(other), str(run_folder), "--no-replay"]) == 0
    out = capsys.readouterr().out
    assert "dtype" in out and "186" in out and "outcome-equivalent needed, reached" in out


def test_compare_missing_input_is_exit_2(run_folder, tmp_path, capsys) -> None:
    assert main(["compare", str(run_folder), str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def _run_folder(run: Run, folder, created: str | None, weight_nudge: float = 0.0):
    """A run folder of ``run`` with its final weight moved by ``weight_nudge``, stamped
    ``created`` (None: a record written before runs were stamped)."""
    final = json.loads(json.dumps(run.final_state))
    final["linear.weight"]["values"][0] += weight_nudge
    changed = dataclasses.replace(run, final_state=final, created=created)
    written = write_run_folder(changed, state_from_json(changed.final_state), folder)
    if created is None:
        record = json.loads((written / "run.json").read_text())
        del record["created"]
        (written / "run.json").write_text(json.dumps(record))
    return written


@pytest.mark.parametrize(
    ("older", "newer", "stamps"),
    [
        # Records without a stamp: the walk's order, which is time order for linreg's run ids.
        ("20240101T000000000000Z-eager", "20250101T000000000000Z-eager", (None, None)),
        # Stamped records: the stamp, whatever the folders are called.
        ("z-run", "a-run", ("20240101T000000000000Z", "20250101T000000000000Z")),
    ],
)
def test_a_folder_of_runs_of_one_label_compares_its_newest_and_names_it(
    tutorial_run, tmp_path, capsys, older, newer, stamps
) -> None:
    runs = tmp_path / "runs"
    _run_folder(tutorial_run, runs / older, stamps[0])
    newest = _run_folder(tutorial_run, runs / newer, stamps[1], weight_nudge=0.5)
    assert load_result_set(runs).runs["eager-float32-seed42-threadsall"].final_weight == (
        tutorial_run.final_weight + 0.5
    )
    assert main(["compare", str(newest), str(runs)]) == 0
    out = capsys.readouterr().out
    assert f"candidate: eager-float32-seed42-threadsall: the newest of 2 runs, {newest}" in out
    assert "bit-identical" in out


def test_the_two_copies_of_a_repro_set_are_one_run_not_a_choice(tutorial_run, tmp_path) -> None:
    for copy in ("first", "second"):
        folder = tmp_path / "set" / copy
        folder.mkdir(parents=True)
        record = run_record(tutorial_run, kinds.REPRO_RUN)
        (folder / f"{tutorial_run.config.config_id}.json").write_text(json.dumps(record))
    result = load_result_set(tmp_path / "set")
    assert list(result.runs) == ["eager-float32-seed42-threadsall"]
    assert result.choices == []
