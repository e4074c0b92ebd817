"""The report renders in a real browser: no page error, every figure drawn with data, and the
verdict panel answers in the first viewport."""

import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from linreg.cli import main
from linreg.paths import REFERENCE_DIR
from linreg.report.build import build_report, collect_inputs, environment_table
from linreg.report.speed import speed_ratios
from tests.browser import render, require_browser

BENCH_FIXTURE = Path(__file__).parent / "data" / "bench_quick.json"
CORRUPTED = "cpu-float32-seed42-threads1-eager.json"


def second_machine(bench: dict, slowdown: float) -> dict:
    """The same cases as if measured on another machine: other name, CPU, core and thread
    counts and torch, slower."""
    other = copy.deepcopy(bench)
    info = other["machine_info"]
    info["linreg_machine"] = "other-cpu-8c"
    info["linreg_environment"].update(
        {"cpu": "Other CPU", "cpu_count": 8, "num_threads": 8, "torch": "2.5.1"}
    )
    for case in other["benchmarks"]:
        case["extra_info"].update(machine="other-cpu-8c", threads=8, cpu_count=8)
        stats = case["stats"]
        stats["data"] = [t * slowdown for t in stats["data"]]
        for key in ("min", "max", "mean", "median", "q1", "q3", "iqr", "stddev"):
            if isinstance(stats.get(key), (int, float)):
                stats[key] *= slowdown
    return other


def corrupted_references(folder: Path) -> Path:
    """A copy of the golden references with one train loss curve off by 1e-3 from epoch 300."""
    shutil.copytree(REFERENCE_DIR, folder)
    path = folder / CORRUPTED
    record = json.loads(path.read_text())
    losses = record["history"]["train_loss"]
    record["history"]["train_loss"] = [v + 1e-3 if e >= 300 else v for e, v in enumerate(losses)]
    path.write_text(json.dumps(record))
    return folder


@pytest.fixture(scope="module")
def results(tmp_path_factory, repro_set) -> Path:
    root = tmp_path_factory.mktemp("results")
    assert main(["train", "--out", str(root / "runs/f32")]) == 0
    assert main(["train", "--dtype", "float64", "--out", str(root / "runs/f64")]) == 0
    assert main(["sweep", "--seeds", "0:20", "--out", str(root / "sweep.json")]) == 0
    shutil.copytree(repro_set, root / "repro" / repro_set.name)
    repro = ["repro", "--seeds", "42", "--threads", "1"]
    # Outside the results: a report of them must not read the references as runs.
    references = corrupted_references(tmp_path_factory.mktemp("golden") / "reference")
    failing = [*repro, "--reference-dir", str(references), "--out", str(root / "repro-failing")]
    assert main(failing) == 1
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


def checks_of(repro_root: Path) -> list[dict]:
    (checks,) = repro_root.rglob("checks.json")
    return json.loads(checks.read_text())["checks"]


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


def test_a_failing_repro_set_shows_the_failure_in_the_first_viewport(results, tmp_path):
    require_browser()
    out = build_report([results / "repro-failing"], tmp_path / "failing.html").path
    page = render(out, tmp_path / "failing.png")
    assert page.page_errors == [] and page.console_errors == []
    failing = [c for c in checks_of(results / "repro-failing") if not c["holds"]]
    assert [c["kind"] for c in failing] == ["golden"]
    named = f"golden: {failing[0]['subject']} vs {CORRUPTED}"
    total = len(checks_of(results / "repro-failing"))
    assert f"No: 1 of {total} checks fails" in page.viewport_text
    assert named in page.viewport_text
    assert "within tolerance to epoch 300, then the same outcome" in page.viewport_text
    assert any(named in red for red in page.viewport_red), page.viewport_red


def test_a_passing_repro_set_says_all_checks_hold_in_the_first_viewport(results, tmp_path):
    require_browser()
    out = build_report([results / "repro"], tmp_path / "passing.html").path
    page = render(out, tmp_path / "passing.png")
    total = len(checks_of(results / "repro"))
    assert f"Yes: all {total} checks hold" in page.viewport_text
    assert page.viewport_red == []
    assert "Regressed? No baseline for machine" in page.viewport_text


def test_two_machines_with_different_thread_counts_get_a_ratio_chart(results, tmp_path):
    require_browser()
    out = build_report([results / "bench"], tmp_path / "machines.html").path
    page = render(out, tmp_path / "machines.png")
    assert page.page_errors == [] and page.console_errors == []
    assert page.figures["speed-ratios"] > 0 and page.figures["timings"] > 0
    ratios = re.search(r'<section id="ratios">.*?</section>', out.read_text(), re.S)
    assert ratios, "no ratio section"
    assert "they differ in cpu, cpu_count, num_threads, torch" in ratios.group(0)
    assert "other-cpu-8c ÷ amd-epyc-2c" in page.viewport_text


def test_two_machines_are_shown_side_by_side(results):
    inputs = collect_inputs([results / "bench"])
    table = environment_table(inputs.environments)
    frame = table.frame
    assert {"amd-epyc-2c / torch 2.13.0+cpu", "other-cpu-8c / torch 2.5.1"} <= set(frame.columns)
    differing = frame[frame[""] == "≠"]
    assert {"CPU model", "CPU cores", "torch", "threads"} <= set(differing["what"])
    # Differing rows first, and marked for the page's style.
    assert list(frame[""][: len(differing)]) == ["≠"] * len(differing)
    assert table.row_classes[: len(differing)] == ["differs"] * len(differing)
    ratios = speed_ratios(inputs.bench)
    between = ratios[ratios["comparison"] == "other-cpu-8c ÷ amd-epyc-2c"]
    assert len(between) == 5  # every case, though the two machines ran 2 and 8 threads
    assert between["ratio"].round(6).eq(1.5).all()


def test_png_export_writes_one_image_per_figure(results, tmp_path):
    require_browser()
    pytest.importorskip("kaleido", reason="kaleido is not installed")
    paths = [results / "runs", results / "bench"]
    summary = build_report(paths, tmp_path / "r.html", png_dir=tmp_path / "png")
    assert len(summary.images) == len(summary.figures) >= 4
    for image in summary.images:
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tutorial_figures_come_from_the_train_run_not_a_repro_run(results):
    from linreg.report.build import build_sections

    sections = {s.anchor: s for s in build_sections(collect_inputs([results]))}
    assert "cpu float32 seed 42 threads all eager" in sections["tutorial"].notes[0]
