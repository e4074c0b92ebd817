"""The history site in headless Chromium: every page opens offline with no page or console
error and every figure draws data; the index lists the regressions planted, a case page marks
its step where it was planted, the numerics page draws a drifting horizon; and a site of this
repository's own committed baselines opens too."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from linreg.cli import main
from linreg.paths import BASELINES
from tests.browser import _COUNT_POINTS, opened, require_browser
from tests.history_data import INFERENCE, START, TRAIN, clone_repro, step, write_host

HOST_A, HOST_B = "aaaa11112222", "bbbb33334444"
HORIZONS = [186, 180, 170, 160, 150, 140]  # the dtype pair's horizon, set by set


def inspect(page_path: Path, script: str = "() => null") -> tuple[list[str], dict, object]:
    """Open a page offline; its page and console errors, points drawn per figure, and what
    ``script`` returns."""
    errors: list[str] = []
    with opened(page_path, errors, errors) as page:
        return errors, page.evaluate(_COUNT_POINTS), page.evaluate(script)


@pytest.fixture(scope="module")
def site(tmp_path_factory, repro_set) -> Path:
    root = tmp_path_factory.mktemp("history")
    results = root / "results"
    # Two hosts of one CPU string: train stepped +30 % three sessions ago on A only; inference
    # stepped -20 % long ago on B; both count 10 % more train instructions in the last hour.
    newest = step(38, "train", 1.1)
    write_host(results, machine="amd-epyc-2c", host_id=HOST_A, sessions=40, minutes=1,
               wall=step(37, "train", 1.3), instructions=newest)  # fmt: skip
    write_host(results, machine="amd-epyc-2c", host_id=HOST_B, sessions=40, minutes=2,
               speed=1.4, wall=step(20, "inference", 0.8), instructions=newest)  # fmt: skip
    write_host(results / "older", machine="old-box", host_id=None, sessions=10, minutes=3)
    clone_repro(repro_set, results / "repro", len(HORIZONS), HOST_A, HORIZONS.__getitem__)
    out = root / "site"
    assert main(["history", str(results), "--out", str(out)]) == 0
    return out


_REGRESSIONS = """() => Array.from(
  document.querySelectorAll('table[data-table=regressions] tbody tr')
).map(tr => [
  tr.className,
  ...Array.from(tr.cells).map(td => td.innerText.trim()),
  tr.querySelector('a').getAttribute('href'),
])"""


def test_every_page_opens_offline_without_errors_and_draws_data(site):
    require_browser()
    pages = [site / "index.html", site / "numerics.html", *sorted((site / "cases").iterdir())]
    assert len(pages) == 4
    for page in pages:
        errors, figures, _ = inspect(page)
        assert errors == [], (page.name, errors)
        assert figures and all(points > 0 for points in figures.values()), (page.name, figures)


def test_the_index_lists_the_planted_regressions_slower_first(site):
    require_browser()
    _, _, rows = inspect(site / "index.html", _REGRESSIONS)
    said = [(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    assert said == [
        ("slower", "train cpu float32 seed42 eager", "wall time", "amd-epyc-2c · host aaaa11",
         "×1.30"),
        ("slower", "train cpu float32 seed42 eager", "instructions",
         "torch 2.13.0+cpu, Python 3.11.7", "×1.10"),
    ]  # fmt: skip
    # Each row links to its case's page, which exists; the old inference step is not listed.
    assert all((site / r[-1]).is_file() for r in rows)
    text = (site / "index.html").read_text()
    assert "old-box carry no host id" in text


def test_a_case_page_marks_the_step_where_it_was_planted(site):
    require_browser()
    steps = """() => {
      const plot = document.querySelector('[data-figure=wall] .js-plotly-plot');
      const trace = plot._fullData.find(t => t.name === 'steps');
      const hovers = plot._fullData.filter(t => t.hovertemplate).map(t => t.hovertemplate);
      const drawn = Array.from(plot.querySelectorAll('.textpoint')).map(t => t.textContent);
      return {text: Array.from(trace.text), hover: Array.from(trace.hovertext), drawn, hovers};
    }"""
    errors, _, found = inspect(site / "cases" / "train-cpu-float32-seed42-eager.html", steps)
    assert errors == []
    assert found["text"] == ["×1.30"] and found["drawn"] == ["×1.30"]
    [hover] = found["hover"]
    when = START + dt.timedelta(hours=37, minutes=1)  # session 37 of host A
    assert f"from {when:%Y-%m-%d %H:%M} UTC" in hover and "amd-epyc-2c · host aaaa11" in hover
    assert "torch 2.13.0+cpu, Python 3.11.7, commit 00000025" in hover
    point = next(h for h in found["hovers"] if "commit %{text}" in h)
    assert "torch 2.13.0+cpu, Python 3.11.7" in point and "%{x|%Y-%m-%d %H:%M} UTC" in point
    inference = (site / "cases" / "inference-cpu-float32-seed42-eager-n1000.html").read_text()
    # B's old step, on its page (its steps table names the session its new level began).
    found = r"host bbbb33</td><td class=\"ratio\">×0\.(79|80|81)\d?</td>.*-bbbb33334444-s0020<"
    assert re.search(found, inference)
    assert INFERENCE in inference and TRAIN not in inference


def test_the_numerics_page_draws_each_sets_horizon(site):
    require_browser()
    horizons = """() => {
      const plot = document.querySelector('[data-figure=numerics-horizon] .js-plotly-plot');
      return plot._fullData.filter(t => t.name.startsWith('consistency (dtype)'))
        .map(t => Array.from(t.y));
    }"""
    errors, figures, found = inspect(site / "numerics.html", horizons)
    assert errors == []
    assert set(figures) == {"numerics-level", "numerics-horizon", "numerics-outcome",
                            "numerics-final-loss"}  # fmt: skip
    assert found == [HORIZONS]


def test_a_site_of_the_committed_baselines_opens_without_errors(tmp_path):
    require_browser()
    out = tmp_path / "site"
    assert main(["history", str(BASELINES), "--out", str(out)]) == 0
    for page in (out / "index.html", out / "cases" / "train-cpu-float32-seed42-eager.html"):
        errors, figures, _ = inspect(page)
        assert errors == [], (page.name, errors)
        assert figures and all(points > 0 for points in figures.values()), (page.name, figures)
