"""linreg's figures are in plotly's "plotly_white" template, made plotly's default
(linreg.report.template) rather than named in each figure's layout, which validates a copy of it
for every figure."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from linreg.report.template import TEMPLATE, figure, use_template


def as_json(fig: go.Figure) -> dict:
    return json.loads(fig.to_json())


def test_a_figure_carries_the_template_as_one_named_in_its_layout_does():
    traces = [go.Scatter(x=[1, 2], y=[3, 4], name="a")]
    named = go.Figure(data=traces).update_layout(template=TEMPLATE, height=480)
    made = figure(traces).update_layout(height=480)
    assert as_json(made) == as_json(named)


def test_another_default_set_meanwhile_does_not_change_linreg_s_figures():
    before = pio.templates.default
    pio.templates.default = "plotly"
    try:
        made = figure()
        assert (
            as_json(made)["layout"]["template"]
            == as_json(go.Figure().update_layout(template=TEMPLATE))["layout"]["template"]
        )
        assert pio.templates.default == TEMPLATE
    finally:
        pio.templates.default = before


def test_subplots_made_after_use_template_are_in_it():
    before = pio.templates.default
    pio.templates.default = "plotly"
    try:
        use_template()
        made = make_subplots(rows=2, cols=1)
        named = make_subplots(rows=2, cols=1).update_layout(template=TEMPLATE)
        assert as_json(made) == as_json(named)
    finally:
        pio.templates.default = before
