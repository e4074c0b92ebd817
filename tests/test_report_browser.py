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
