"""The report renders in a real browser: no page error, every figure drawn with data."""

from pathlib import Path

import pytest

from linreg.cli import main
from tests.browser import render, require_browser


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    for args in (
        ["--out", str(root / "runs/f32")],
        ["--dtype", "float64", "--out", str(root / "runs/f64")],
    ):
        assert main(["train", *args]) == 0
    out = root / "report.html"
    assert main(["report", str(root / "runs"), "--out", str(out)]) == 0
    return out


def test_report_renders_every_figure_without_page_errors(report, tmp_path):
    require_browser()
    page = render(report, tmp_path / "report.png")
    assert page.page_errors == []
    assert page.console_errors == []
    expected = {"tutorial-data", "tutorial-predictions", "tutorial-loss", "loss-overlay"}
    assert expected <= set(page.figures)
    assert all(points > 0 for points in page.figures.values()), page.figures
    assert page.screenshot.stat().st_size > 10_000


def test_png_export_writes_one_image_per_figure(report, tmp_path):
    require_browser()
    pytest.importorskip("kaleido", reason="kaleido is not installed")
    from linreg.report.build import build_report

    summary = build_report([report.parent / "runs"], tmp_path / "r.html", png_dir=tmp_path / "png")
    assert len(summary.images) == len(summary.figures) >= 4
    for image in summary.images:
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
