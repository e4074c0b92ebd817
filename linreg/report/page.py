"""Assemble figures and tables into one self-contained HTML page (plotly.js embedded once)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table.dataframe { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
table.dataframe th, table.dataframe td { border: 1px solid #ccc; padding: 2px 6px; }
table.dataframe tr.differs td { background: #fff3cd; }
.note { color: #666; font-size: 0.9em; } nav a { margin-right: 1em; }
"""


@dataclass
class Section:
    """A titled part of the report: notes, figures and tables in that order."""

    anchor: str
    title: str
    notes: list[str] = field(default_factory=list)
    figures: list[tuple[str, go.Figure]] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)


def render_page(title: str, sections: list[Section], subtitle: str = "") -> str:
    """The whole report. Each figure gets a div with data-figure=<name> for tests to find."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>",
        # plotly.js once, inline: the file opens offline.
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(subtitle)}</p>' if subtitle else "",
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
            parts.append(table.to_html(border=0, na_rep="", escape=True))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"
