"""The look of linreg's figures: plotly's "plotly_white" template, made plotly's default before a
figure is made.

Named in each figure's layout (``template="plotly_white"``), the template is validated anew, a
deep copy of it, for every figure: 8-13 ms each, about half of `linreg history`'s time on the
committed baselines' 180 case pages. As the default it is validated once, when it is set (about
20 ms), and each figure made afterwards takes it as it is. A figure's JSON carries the same
template either way, its keys in the template's own order rather than sorted.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

TEMPLATE = "plotly_white"


def use_template() -> None:
    """Make TEMPLATE plotly's default (once: setting it validates it); figures made afterwards,
    by ``go.Figure`` or ``make_subplots``, are drawn in it."""
    if pio.templates.default != TEMPLATE:
        pio.templates.default = TEMPLATE


def figure(data: list | None = None) -> go.Figure:
    """``go.Figure(data)`` in TEMPLATE."""
    use_template()
    return go.Figure(data=data)
