"""Open a report in headless Chromium (Debian's /usr/bin/chromium, never a downloaded one)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LINREG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass
class RenderedPage:
    page_errors: list[str]
    console_errors: list[str]
    figures: dict[str, int]  # data-figure name -> number of points drawn
    screenshot: Path


def require_browser() -> None:
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)")


_COUNT_POINTS = """
() => Object.fromEntries(Array.from(document.querySelectorAll('[data-figure]')).map(el => {
  const plot = el.querySelector('.js-plotly-plot');
  const drawn = plot && plot._fullData ? plot._fullData : [];
  const points = drawn.reduce((n, trace) => {
    const v = trace.x || trace.y || trace.z || [];
    return n + (v.length || 0);
  }, 0);
  const svg = plot ? plot.querySelectorAll('.main-svg').length : 0;
  return [el.dataset.figure, svg > 0 ? points : -1];
}))
"""


def _keep_error(errors: list[str], message) -> None:
    if message.type == "error":
        errors.append(message.text)


def _only_local_files(route) -> None:
    if route.request.url.startswith("file://"):
        route.continue_()
    else:
        route.abort()


def render(report: Path, screenshot: Path) -> RenderedPage:
    from playwright.sync_api import sync_playwright

    page_errors: list[str] = []
    console_errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.on("console", lambda m: _keep_error(console_errors, m))
            # Block every request that is not the file itself: the report must work offline.
            page.route("**/*", _only_local_files)
            page.goto(report.resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                "() => document.querySelectorAll('[data-figure] .main-svg').length >= "
                "document.querySelectorAll('[data-figure]').length",
                timeout=30_000,
            )
            figures = page.evaluate(_COUNT_POINTS)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return RenderedPage(page_errors, console_errors, figures, screenshot)
