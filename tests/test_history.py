"""`linreg history`: gathering results trees (each session once, in time order, per host),
the series and steps it draws, the regressions it lists, and the command's edges. The site in
a browser: tests/test_history_browser.py; at scale: bench/history_scale.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from linreg.cli import main
from linreg.compare.over_time import INSTRUCTIONS, WALL, case_series, regressions, windowed_steps
from linreg.compare.steps import find_steps
from linreg.errors import OutputError, ResultSetError
from linreg.report.site import build as site_build
from linreg.report.site.build import build_site
from linreg.report.site.publish import MARKER
from linreg.results.history import gather
from linreg.results.history_series import REGRESSION, SPEED_UP
from tests.history_data import INFERENCE, TRAIN, step, write_host


def series_of(found, case: str, metric: str):
    return [s for s in found[case] if s.metric == metric]


def test_a_session_copied_into_two_trees_counts_once(tmp_path):
    write_host(tmp_path / "a", machine="amd-epyc-2c", host_id="aaaa11112222", sessions=4,
               processes=2)  # fmt: skip
    shutil.copytree(tmp_path / "a", tmp_path / "ci-artifacts" / "run-17")
    # The same files again, written out with other spacing (an artifact tool re-serialised it).
    for path in (tmp_path / "ci-artifacts").rglob("*.json"):
        path.write_text(json.dumps(json.loads(path.read_text())))
    history = gather([tmp_path / "a", tmp_path / "ci-artifacts", tmp_path / "a"])
    assert len(history.sessions) == 4
    assert all(s.processes == 2 for s in history.sessions)
    assert history.copies == 8


def test_sessions_are_ordered_by_their_time_not_their_path(tmp_path):
    write_host(tmp_path, machine="m", host_id="aaaa11112222", sessions=5)
    for path in sorted((tmp_path / "m").glob("*.json")):
        path.rename(path.with_name(f"{9 - int(path.name[:4])}-{path.name}"))
    history = gather([tmp_path])
    started = [s.started for s in history.sessions]
    assert started == sorted(started) and len(set(started)) == 5
    assert [s.id[-5:] for s in history.sessions] == ["s0000", "s0001", "s0002", "s0003", "s0004"]


def test_two_hosts_of_one_cpu_string_are_two_wall_series_and_one_instruction_series(tmp_path):
    for number, (host_id, speed) in enumerate((("aaaa11112222", 1.0), ("bbbb33334444", 1.5))):
        write_host(tmp_path, machine="amd-epyc-2c", host_id=host_id, sessions=12, speed=speed,
                   minutes=number)  # fmt: skip
    history = gather([tmp_path])
    assert set(history.labels.values()) == {
        "amd-epyc-2c · host aaaa11",
        "amd-epyc-2c · host bbbb33",
    }
    assert history.without_host_id == []
    found = case_series(history)
    wall = series_of(found, TRAIN, WALL)
    assert sorted(s.key for s in wall) == ["host aaaa11112222", "host bbbb33334444"]
    assert all(len(s) == 12 and not s.steps for s in wall)  # 1.5x apart, and no step
    # Instructions depend on the stack, not the host: one series of both hosts' sessions.
    [counts] = series_of(found, TRAIN, INSTRUCTIONS)
    assert len(counts) == 24 and not counts.steps


def test_files_without_a_host_id_are_one_series_per_machine_name_and_it_is_said(tmp_path):
    write_host(tmp_path / "old", machine="amd-epyc-2c", host_id=None, sessions=6)
    write_host(tmp_path / "new", machine="amd-epyc-2c", host_id="aaaa11112222", sessions=6,
               minutes=30)  # fmt: skip
    history = gather([tmp_path])
    assert history.without_host_id == ["amd-epyc-2c"]
    assert history.labels == {
        "machine amd-epyc-2c": "amd-epyc-2c · no host id",
        "host aaaa11112222": "amd-epyc-2c · host aaaa11",
    }
    notes = site_build.history_notes(history)
    assert any("amd-epyc-2c carry no host id" in n for n in notes)


def test_a_machine_name_given_in_one_tree_renames_no_other_trees_sessions(tmp_path):
    # One host: its own tree under its default name, a second tree benchmarked with
    # `linreg bench --machine other-box`; and another host of the default name.
    write_host(tmp_path / "a", machine="amd-epyc-2c", host_id="aaaa11112222", sessions=4)
    write_host(tmp_path / "b", machine="other-box", host_id="aaaa11112222", sessions=4,
               minutes=30)  # fmt: skip
    write_host(tmp_path / "c", machine="amd-epyc-2c", host_id="bbbb33334444", sessions=4,
               minutes=40)  # fmt: skip
    history = gather([tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    named = {s.id: history.labels[s.where.host] for s in history.sessions}
    assert {named[f"amd-epyc-2c-aaaa11112222-s000{i}"] for i in range(4)} == {
        "amd-epyc-2c · host aaaa11"
    }
    assert {named[f"other-box-aaaa11112222-s000{i}"] for i in range(4)} == {"other-box"}
    assert {named[f"amd-epyc-2c-bbbb33334444-s000{i}"] for i in range(4)} == {
        "amd-epyc-2c · host bbbb33"
    }
    # Each name its own wall-time series: no step is measured across the renaming.
    wall = series_of(case_series(history), TRAIN, WALL)
    assert sorted(len(s) for s in wall) == [4, 4, 4]
    assert history.renamed == {"aaaa11112222": ["amd-epyc-2c", "other-box"]}
    notes = site_build.history_notes(history)
    assert any("ran under the machine names amd-epyc-2c and other-box" in n for n in notes)


def test_a_session_of_several_processes_is_one_point_with_their_band(tmp_path):
    write_host(tmp_path, machine="m", host_id="aaaa11112222", sessions=3, processes=4,
               noise=0.05)  # fmt: skip
    history = gather([tmp_path])
    [wall] = series_of(case_series(history), TRAIN, WALL)
    assert len(wall) == 3
    record = history.sessions[0].cases[TRAIN]
    assert len(record.wall) == 4 and len(record.instructions) == 1  # counted by the first
    assert wall.low[0] == min(record.wall) < wall.values[0] < wall.high[0] == max(record.wall)


def test_a_step_in_the_newest_sessions_is_a_regression_and_slower_comes_first(tmp_path):
    write_host(tmp_path, machine="fast-box", host_id="aaaa11112222", sessions=40,
               wall=step(37, "train", 1.25), minutes=1)  # fmt: skip
    write_host(tmp_path, machine="slow-box", host_id="bbbb33334444", sessions=40,
               wall=step(37, "inference", 0.8), minutes=2)  # fmt: skip
    # An old step: drawn and listed on its case page, not a regression.
    write_host(tmp_path, machine="old-box", host_id="cccc55556666", sessions=40,
               wall=step(10, "train", 1.3), minutes=3)  # fmt: skip
    history = gather([tmp_path])
    found = case_series(history, threshold=0.05)
    listed = regressions([s for f in found.values() for s in f], recent=5)
    assert [(r.series.case, r.series.key) for r in listed] == [
        (TRAIN, "host aaaa11112222"),
        (INFERENCE, "host bbbb33334444"),
    ]
    assert [r.step.ratio for r in listed] == [pytest.approx(1.25, rel=0.02),
                                              pytest.approx(0.8, rel=0.02)]  # fmt: skip
    # Each earned by its 37 sessions before and 3 after; the faster one is a speed-up.
    assert [r.kind for r in listed] == [REGRESSION, SPEED_UP]
    assert listed[0].sessions_ago == 3
    assert history.sessions[listed[0].step.session].id.endswith("s0037")
    [old] = [s for s in series_of(found, TRAIN, WALL) if s.key == "host cccc55556666"]
    [old_step] = old.steps
    assert old_step.position == 10 and old_step.ratio == pytest.approx(1.3, rel=0.02)


def test_an_instruction_step_of_one_stack_is_found_across_its_hosts(tmp_path):
    for number, host_id in enumerate(("aaaa11112222", "bbbb33334444")):
        write_host(tmp_path, machine="amd-epyc-2c", host_id=host_id, sessions=20,
                   instructions=step(12, "train", 1.1), minutes=number)  # fmt: skip
    history = gather([tmp_path])
    [counts] = series_of(case_series(history), TRAIN, INSTRUCTIONS)
    [found] = counts.steps
    assert found.ratio == pytest.approx(1.1, rel=1e-3)
    assert history.sessions[found.session].id.endswith("s0012")


def test_a_new_torch_starts_a_new_instruction_series_rather_than_a_step(tmp_path):
    write_host(tmp_path, machine="m", host_id="aaaa11112222", sessions=20,
               instructions=step(10, "train", 1.3),
               torch=lambda s: "2.13.0+cpu" if s < 10 else "2.14.1+cpu")  # fmt: skip
    found = case_series(gather([tmp_path]))
    counts = series_of(found, TRAIN, INSTRUCTIONS)
    assert [len(s) for s in counts] == [10, 10] and not any(s.steps for s in counts)
    [wall] = series_of(found, TRAIN, WALL)  # the host's wall time goes on across the change
    assert len(wall) == 20


def test_a_file_that_cannot_be_read_is_passed_over_and_named(tmp_path):
    write_host(tmp_path, machine="m", host_id="aaaa11112222", sessions=3)
    (tmp_path / "m" / "truncated.json").write_text('{"benchmarks": [')
    history = gather([tmp_path])
    assert len(history.sessions) == 3
    [(path, why)] = history.unreadable
    assert path.name == "truncated.json" and "not readable JSON" in why


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "absent", "absent: no such file or folder"),
        (lambda root: _folder_without_results(root), "no benchmark sessions or repro result sets"),
    ],
)  # fmt: skip
def test_inputs_without_results_are_refused(tmp_path, make, message):
    with pytest.raises(ResultSetError, match=message):
        gather([make(tmp_path)])


def _folder_without_results(root: Path) -> Path:
    (root / "notes").mkdir()
    (root / "notes" / "other.json").write_text('{"hello": 1}')
    return root / "notes"


@pytest.fixture
def small_history(tmp_path) -> Path:
    write_host(tmp_path / "results", machine="m", host_id="aaaa11112222", sessions=8)
    return tmp_path / "results"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["absent", "--out", "site"], "absent: no such file or folder"),
        (["results", "--out", "results/m"], "exists and is not a site linreg history built"),
        (["results", "--out", "file.txt"], "exists and is not a folder"),
        (["results", "--out", "site", "--threshold", "5"], "'5' is ambiguous"),
        (["results", "--out", "site", "--recent", "0"], "--recent"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(small_history, monkeypatch, capsys, args, message):
    monkeypatch.chdir(small_history.parent)
    Path("file.txt").write_text("mine")
    assert main(["history", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not Path("site").exists() and not list(Path().glob(".site*"))


def test_the_command_says_what_it_built(small_history, capsys):
    out = small_history.parent / "site"
    assert main(["history", str(small_history), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "history: 8 sessions on 1 host (1 machine, 1 stack), 2 cases" in said
    assert f"{out / 'index.html'}" in said.replace("\n", "")
    assert sorted(p.name for p in out.iterdir()) == [
        "cases", "index.html", MARKER, "plotly.min.js"
    ]  # fmt: skip
    for page in [out / "index.html", *(out / "cases").iterdir()]:
        text = page.read_text()
        assert "plotly.min.js" in text and "Plotly.newPlot" in text
        assert len(text) < 1_000_000  # plotly.js lives beside the pages, not in them


def test_an_earlier_site_is_rebuilt_whole_and_a_failed_build_leaves_it_as_it_was(
    small_history, monkeypatch
):
    out = small_history.parent / "site"
    build_site([small_history], out)
    stale = out / "cases" / "a-case-that-is-gone.html"
    stale.write_text("old")
    build_site([small_history], out)  # rebuilt: the old page goes with the old site
    assert not stale.exists() and (out / "index.html").is_file()
    before = (out / "index.html").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(site_build, "numerics_page", broken)
    monkeypatch.setattr(site_build, "index_page", broken)
    with pytest.raises(RuntimeError, match="disk gone"):
        build_site([small_history], out)
    assert (out / "index.html").read_text() == before
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_an_earlier_site_holding_a_file_of_someone_elses_is_not_rebuilt(small_history):
    out = small_history.parent / "site"
    build_site([small_history], out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=r"also holds notes\.txt"):
        build_site([small_history], out)
    assert (out / "notes.txt").read_text() == "mine"


def test_a_series_longer_than_a_window_keeps_each_step_once_and_finds_none_where_flat():
    rng = np.random.default_rng(3)
    n, window = 1200, 200
    # Steps at a window's edge, at the boundary of two windows' middles, and three from the end.
    planted = [(100, 1.08), (150, 0.93), (601, 1.12), (n - 3, 1.25)]
    level = np.ones(n)
    for index, ratio in planted:
        level[index:] *= ratio
    values = 0.04 * level * np.exp(rng.normal(0, 0.01, n))
    found = windowed_steps(values, [None] * n, 0.03, window=window)
    assert [s.index for s in found] == [p for p, _ in planted]
    assert [s.ratio for s in found] == [pytest.approx(r, rel=0.02) for _, r in planted]
    flat = 0.04 * np.exp(rng.normal(0, 0.01, n))
    assert windowed_steps(flat, [None] * n, 0.03, window=window) == []
    # Within one window it is find_steps itself.
    short = values[:window]
    assert windowed_steps(short, [None] * window, 0.03, window) == find_steps(short, None, 0.03)
