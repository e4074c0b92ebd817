"""The report renders in a real browser: no page error, every figure drawn with data."""

import copy
import json
from pathlib import Path

import pytest

from linreg.cli import main
from linreg.report.build import collect_inputs, environment_table
from linreg.report.figures import speed_ratios
from tests.browser import render, require_browser

BENCH_FIXTURE = Path(__file__).parent / "data" / "bench_quick.json"


def second_machine(bench: dict, slowdown: float) -> dict:
    """The same cases as if measured on another machine: other name, CPU and torch, slower."""
    other = copy.deepcopy(bench)
    info = other["machine_info"]
    info["linreg_machine"] = "other-cpu-8c"
    info["linreg_environment"].update({"cpu": "Other CPU", "cpu_count": 8, "torch": "2.5.1"})
    for case in other["benchmarks"]:
        case["extra_info"]["machine"] = "other-cpu-8c"
        stats = case["stats"]
        stats["data"] = [t * slowdown for t in stats["data"]]
        for key in ("min", "max", "mean", "median", "q1", "q3", "iqr", "stddev"):
            if isinstance(stats.get(key), (int, float)):
                stats[key] *= slowdown
    return other


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    assert main(["train", "--out", str(root / "runs/f32")]) == 0
    assert main(["train", "--dtype", "float64", "--out", str(root / "runs/f64")]) == 0
    assert main(["sweep", "--seeds", "0:20", "--out", str(root / "sweep.json")]) == 0
    assert (
        main(
            [
                "repro",
                "--seeds",
                "42",
                "--threads",
                "1",
                "--no-golden",
                "--out",
                str(root / "repro"),
            ]
        )
        == 0
    )
    bench = json.loads(BENCH_FIXTURE.read_text())
    (root / "bench").mkdir()
    (root / "bench" / "a.json").write_text(json.dumps(bench))
    (root / "bench" / "b.json").write_text(json.dumps(second_machine(bench, 1.5)))
    return root


@pytest.fixture(scope="module")
def report(results) -> Path:
    out = results / "report.html"
    assert main(["report", str(results), "--out", str(out)]) == 0
    return out


def test_report_renders_every_figure_without_page_errors(report, tmp_path):
    require_browser()
    page = render(report, tmp_path / "report.png")
    assert page.page_errors == []
    assert page.console_errors == []
    expected = {
        "tutorial-data",
        "tutorial-predictions",
        "tutorial-loss",
        "loss-overlay",
        "timings",
        "speed-ratios",
        "repro-matrix",
        "sweep-band-0",
    }
    assert expected <= set(page.figures), page.figures
    assert all(points > 0 for points in page.figures.values()), page.figures
    assert page.screenshot.stat().st_size > 10_000


def test_two_machines_are_shown_side_by_side(results):
    inputs = collect_inputs([results / "bench"])
    table = environment_table(inputs.environments)
    assert {"amd-epyc-2c / torch 2.13.0+cpu", "other-cpu-8c / torch 2.5.1"} <= set(table.columns)
    differing = set(table.index[table["differs"] == "yes"])
    assert {"cpu", "cpu_count", "torch"} <= differing
    ratios = speed_ratios(inputs.bench)
    between = ratios[ratios["comparison"] == "amd-epyc-2c / other-cpu-8c"]
    assert len(between) == 5
    assert between["ratio"].round(6).eq(round(1 / 1.5, 6)).all()


def test_png_export_writes_one_image_per_figure(results, tmp_path):
    require_browser()
    pytest.importorskip("kaleido", reason="kaleido is not installed")
    from linreg.report.build import build_report

    summary = build_report([results / "runs"], tmp_path / "r.html", png_dir=tmp_path / "png")
    assert len(summary.images) == len(summary.figures) >= 4
    for image in summary.images:
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tutorial_figures_come_from_the_train_run_not_a_repro_run(results):
    from linreg.report.build import build_sections

    sections = build_sections(collect_inputs([results]))
    assert sections[0].anchor == "tutorial"
    assert "cpu eager-float32-seed42-threadsall" in sections[0].notes[0]
