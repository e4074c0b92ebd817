"""Open a report in headless Chromium (Debian's /usr/bin/chromium, never a downloaded one)."""

from __future__ import annotations

import contextlib
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


# The first screen a reader sees: what the verdict panel must fit in.
VIEWPORT = {"width": 1280, "height": 800}


@dataclass
class RenderedPage:
    page_errors: list[str]
    console_errors: list[str]
    figures: dict[str, int]  # data-figure name -> number of points drawn
    screenshot: Path  # the whole page
    first_viewport: Path  # the first 1280×800, as a reader opening the file sees it
    viewport_text: str  # the text visible in the first viewport
    viewport_red: list[str]  # the text of red elements (text or background) visible there
    panel_bottom_px: float = 0.0  # where the verdict panel ends, from the top of the page


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


# Text nodes whose box lies (partly) inside the viewport; elements drawn red there. "Red": a
# colour whose red channel dominates, as the report's failure colours do.
_FIRST_VIEWPORT = r"""
() => {
  const h = window.innerHeight, w = window.innerWidth;
  const visible = r => r.width > 0 && r.height > 0 && r.top < h && r.bottom > 0 && r.left < w;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim() || node.parentElement.closest('script, style')) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    if (Array.from(range.getClientRects()).some(visible)) texts.push(node.textContent.trim());
  }
  const red = c => {
    const m = c.match(/rgba?\(([0-9.]+), ([0-9.]+), ([0-9.]+)(?:, ([0-9.]+))?/);
    if (!m || (m[4] !== undefined && Number(m[4]) === 0)) return false;
    const [r, g, b] = [Number(m[1]), Number(m[2]), Number(m[3])];
    return r >= 150 && r - g >= 80 && r - b >= 80;
  };
  const reds = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (!visible(el.getBoundingClientRect())) continue;
    const style = getComputedStyle(el);
    const colored = red(style.color) && el.textContent.trim();
    if (colored || red(style.backgroundColor) || red(style.borderLeftColor)) {
      reds.push(el.textContent.trim().slice(0, 300));
    }
  }
  return [texts.join(' '), reds];
}
"""


def _keep_error(errors: list[str], message) -> None:
    if message.type == "error":
        errors.append(message.text)


def _only_local_files(route) -> None:
    if route.request.url.startswith("file://"):
        route.continue_()
    else:
        route.abort()


# One Chromium per test process, started by the first page opened and closed at the end of the
# session (conftest): a start costs seconds on a loaded machine, and each page still gets a
# context of its own (no cookies, cache or storage shared between pages).
_shared: dict[str, object] = {}


def _browser():
    browser = _shared.get("browser")
    if browser is not None and browser.is_connected():
        return browser
    close_browser()
    from playwright.sync_api import sync_playwright

    _shared["playwright"] = sync_playwright().start()
    _shared["browser"] = _shared["playwright"].chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    return _shared["browser"]


def close_browser() -> None:
    """Close the shared Chromium, if one was started."""
    browser, playwright = _shared.pop("browser", None), _shared.pop("playwright", None)
    try:
        if browser is not None:
            browser.close()
    finally:
        if playwright is not None:
            playwright.stop()


@contextlib.contextmanager
def opened(path: Path, page_errors: list[str], console_errors: list[str]):
    """The page at ``path`` in headless Chromium at the first viewport's size, every figure
    drawn, errors collected; every request but local files blocked (it must work offline)."""
    context = _browser().new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        page.on("console", lambda m: _keep_error(console_errors, m))
        page.route("**/*", _only_local_files)
        page.goto(path.resolve().as_uri(), wait_until="load")
        page.wait_for_function(
            "() => document.querySelectorAll('[data-figure] .main-svg').length >= "
            "document.querySelectorAll('[data-figure]').length",
            timeout=30_000,
        )
        yield page
    finally:
        context.close()


def render(report: Path, screenshot: Path) -> RenderedPage:
    page_errors: list[str] = []
    console_errors: list[str] = []
    with opened(report, page_errors, console_errors) as page:
        figures = page.evaluate(_COUNT_POINTS)
        viewport_text, viewport_red = page.evaluate(_FIRST_VIEWPORT)
        panel_bottom_px = page.evaluate(
            "() => { const p = document.querySelector('[data-verdict-panel]');"
            " return p ? p.getBoundingClientRect().bottom + window.scrollY : 0; }"
        )
        first_viewport = screenshot.with_name(screenshot.stem + "-first-viewport.png")
        page.screenshot(path=str(first_viewport))
        page.screenshot(path=str(screenshot), full_page=True)
    return RenderedPage(
        page_errors,
        console_errors,
        figures,
        screenshot,
        first_viewport,
        " ".join(viewport_text.split()),
        viewport_red,
        panel_bottom_px,
    )
