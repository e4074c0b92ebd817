"""Assemble figures and tables into one self-contained HTML page (plotly.js embedded once)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from linreg.report.panel import PANEL_STYLE
from linreg.report.tables import Table, render_table

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em auto; max-width: 1200px; color: #222;
  padding: 0 1em; }
h1 { margin: 0 0 0.1em; font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd;
  padding-bottom: 0.2em; }
table.dataframe { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
table.dataframe th { background: #f3f4f6; text-align: left; }
table.dataframe th, table.dataframe td { border: 1px solid #ccc; padding: 2px 6px;
  vertical-align: top; }
table.dataframe tr.differs td { background: #fff3cd; }
table[data-table="checks"] td:nth-child(-n+4) { white-space: nowrap; }
table.dataframe tr.fail td { background: #fdecea; color: #c62828; }
.note { color: #555; font-size: 0.9em; margin: 0.2em 0; } nav { font-size: 0.9em; }
nav a { margin-right: 1em; }
"""


@dataclass
class Section:
    """A titled part of the report: notes, figures and tables in that order."""

    anchor: str
    title: str
    notes: list[str] = field(default_factory=list)
    figures: list[tuple[str, go.Figure]] = field(default_factory=list)
    tables: list[tuple[str, Table | pd.DataFrame]] = field(default_factory=list)


def render_page(title: str, sections: list[Section], subtitle: str = "", panel: str = "") -> str:
    """The whole report: the verdict panel first, then each section. Each figure gets a div
    with data-figure=<name> for tests to find."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}{PANEL_STYLE}</style>",
        # plotly.js once, inline: the file opens offline.
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(subtitle)}</p>' if subtitle else "",
        panel,
        "<nav>"
        + "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
        + "</nav>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.anchor}"><h2>{html.escape(section.title)}</h2>')
        parts.extend(f'<p class="note">{html.escape(note)}</p>' for note in section.notes)
        for name, figure in section.figures:
            div = figure.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"fig-{name}",
                config={"responsive": True, "displaylogo": False},
            )
            parts.append(f'<div class="figure" data-figure="{html.escape(name)}">{div}</div>')
        for caption, table in section.tables:
            parts.append(f"<h3>{html.escape(caption)}</h3>")
            parts.append(render_table(table))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"
