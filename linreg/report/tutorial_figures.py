"""The tutorial's three figures, drawn from a Run and its data."""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from linreg.data import Dataset
from linreg.report.template import figure
from linreg.run import LossCurve

TRAIN_COLOR, TEST_COLOR, PRED_COLOR = "#1c4f96", "#f58160", "#8f3974"


def _values(t: torch.Tensor) -> list[float]:
    return t.detach().to("cpu", torch.float64).reshape(-1).tolist()


def data_figure(
    data: Dataset, predictions: torch.Tensor | None = None, title: str = ""
) -> go.Figure:
    fig = figure()
    fig.add_trace(
        go.Scatter(
            x=_values(data.X_train),
            y=_values(data.y_train),
            mode="markers",
            name="Training Data",
            marker={"color": TRAIN_COLOR},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=_values(data.X_test),
            y=_values(data.y_test),
            mode="markers",
            name="Testing Data",
            marker={"color": TEST_COLOR},
        )
    )
    if predictions is not None:
        fig.add_trace(
            go.Scatter(
                x=_values(data.X_test),
                y=_values(predictions),
                mode="markers",
                name="Predictions",
                marker={"color": PRED_COLOR},
            )
        )
    fig.update_layout(title=title, xaxis_title="X", yaxis_title="Y")
    return fig


def loss_figure(
    history: LossCurve, title: str = "Training and Testing Losses vs Epochs"
) -> go.Figure:
    """Train loss at every epoch, test loss at the evaluated epochs."""
    fig = figure()
    fig.add_trace(
        go.Scatter(
            x=list(range(history.epochs)),
            y=list(history.train_loss),
            mode="lines",
            name="Training Loss",
            marker={"color": TRAIN_COLOR},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=list(history.test_epochs),
            y=list(history.test_loss),
            mode="lines+markers",
            name="Testing Loss",
            marker={"color": TEST_COLOR},
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="Epochs",
        yaxis_title="Loss",
        legend_title="Legend",
    )
    return fig


def tutorial_figures(
    data: Dataset, predictions: torch.Tensor, history: LossCurve
) -> list[go.Figure]:
    return [
        data_figure(data, title="Training and Testing Data"),
        data_figure(data, predictions, title="True and Predicted Data"),
        loss_figure(history),
    ]


def figures_page(figures: Sequence[go.Figure], title: str) -> str:
    """One self-contained HTML page: plotly.js is embedded once, so it opens offline."""
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"figure-{i}")
        for i, fig in enumerate(figures)
    ]
    body = "\n".join(f'<section class="figure">{part}</section>' for part in parts)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )
