"""pandas tables as HTML: no index rows, nothing shown as <NA>, rows marked by class.

DataFrame.to_html cannot mark a row (a failing check, a differing fingerprint key), and
pandas' Styler needs jinja2, which linreg does not depend on; the table is small enough to write
out here.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

from linreg.units import NOTHING, missing


@dataclass
class Table:
    """A table the report shows: its cells already in words, and a CSS class per row."""

    frame: pd.DataFrame
    row_classes: list[str] | None = None
    name: str = ""


def as_table(table: Table | pd.DataFrame) -> Table:
    return table if isinstance(table, Table) else Table(table)


def render_table(table: Table | pd.DataFrame) -> str:
    table = as_table(table)
    frame = table.frame
    classes = table.row_classes or [""] * len(frame)
    name = f' data-table="{html.escape(table.name)}"' if table.name else ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row_class, values in zip(classes, frame.itertuples(index=False), strict=True):
        cells = "".join(f"<td>{html.escape(_cell(v))}</td>" for v in values)
        attr = f' class="{html.escape(row_class)}"' if row_class else ""
        body.append(f"<tr{attr}>{cells}</tr>")
    return (
        f'<table class="dataframe"{name}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value
    return NOTHING if missing(value) else str(value)
