"""The history site's pages as HTML: the index, one page per case, the numerics page.

Every page loads the one ``plotly.min.js`` beside the index by a relative ``<script src>``, so
the folder opens offline from anywhere it is copied to, and a thousand-case site holds plotly
once. Each figure sits in a div marked ``data-figure=<name>`` for the tests to find.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from linreg.results.bench_file import case_parts

PLOTLY_JS = "plotly.min.js"
INDEX = "index.html"
NUMERICS = "numerics.html"
CASES = "cases"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em auto; max-width: 1200px; color: #222;
  padding: 0 1em; }
h1 { margin: 0 0 0.1em; font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd;
  padding-bottom: 0.2em; margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th { background: #f3f4f6; text-align: left; }
th, td { border: 1px solid #ccc; padding: 2px 6px; vertical-align: top; }
tr.slower td { background: #fdecea; } tr.slower td.ratio { color: #c62828; font-weight: 600; }
tr.faster td.ratio { color: #1a7f37; font-weight: 600; }
.note { color: #555; font-size: 0.9em; margin: 0.2em 0; }
nav.site { font-size: 0.9em; margin-bottom: 0.8em; } nav.site a { margin-right: 1em; }
code { font-size: 0.9em; }
"""


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, a link where it has one, and a class (for the ratio column)."""

    text: str
    href: str = ""
    css: str = ""


def cell(value: object, href: str = "", css: str = "") -> Cell:
    return Cell(str(value), href, css)


def table(columns: Sequence[str], rows: Iterable[Sequence[Cell]], classes: Iterable[str] = (),
          name: str = "") -> str:  # fmt: skip
    """An HTML table; a row's class marks it (slower, faster)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row, row_class in zip(rows, [*classes] or _forever(""), strict=False):
        cells = []
        for c in row:
            text = html.escape(c.text)
            if c.href:
                text = f'<a href="{html.escape(c.href)}">{text}</a>'
            css = f' class="{c.css}"' if c.css else ""
            cells.append(f"<td{css}>{text}</td>")
        attr = f' class="{row_class}"' if row_class else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    named = f' data-table="{html.escape(name)}"' if name else ""
    return f"<table{named}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _forever(value: str) -> Iterable[str]:
    while True:
        yield value


def figure(name: str, fig: go.Figure) -> str:
    div = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"fig-{name}",
        config={"responsive": True, "displaylogo": False},
    )
    return f'<div class="figure" data-figure="{html.escape(name)}">{div}</div>'


def note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def page(title: str, parts: Sequence[str], depth: int = 0, numerics: bool = False) -> str:
    """A whole page; ``depth``: how many folders below the site's root it lies."""
    up = "../" * depth
    links = [f'<a href="{up}{INDEX}">index</a>']
    if numerics:
        links.append(f'<a href="{up}{NUMERICS}">numerics</a>')
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title><style>{STYLE}</style>",
            # One copy of plotly.js for the whole site, beside the index: works offline.
            f'<script src="{up}{PLOTLY_JS}"></script>',
            "</head><body>",
            f'<nav class="site">{"".join(links)}</nav>',
            f"<h1>{html.escape(title)}</h1>",
            *parts,
            "</body></html>",
        ]
    )


def case_title(fullname: str) -> str:
    """A case in words: 'train cpu float32 seed42 eager' for
    bench_train.py::bench_train[cpu-float32-seed42-eager]."""
    kind, params = case_parts(fullname)
    return " ".join([kind, *params])


def case_pages(cases: Iterable[str]) -> dict[str, str]:
    """Each case's page, relative to the site's root: cases/<kind-params>.html, a short hash
    added where two case ids would make one name."""
    pages: dict[str, str] = {}
    taken: set[str] = set()
    for case in sorted(cases):
        stem = re.sub(r"[^a-z0-9]+", "-", case_title(case).lower()).strip("-")[:120] or "case"
        if stem in taken:
            stem = f"{stem}-{hashlib.sha256(case.encode()).hexdigest()[:8]}"
        taken.add(stem)
        pages[case] = f"{CASES}/{stem}.html"
    return pages
