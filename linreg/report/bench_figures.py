"""Benchmark figures: every case's time, time ratios, and the size sweep against the roofline.

Cases of different kinds differ by orders of magnitude (an inference pass on 40 samples, a
500-epoch run, a 128 MiB copy), so each kind gets its own panel (small multiples), and each case
its own row with its full label: no case is left off and no label is cut.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from linreg.report.speed import KIND_TITLES, kinds_in_order, labelled
from linreg.report.template import figure, use_template
from linreg.units import ratio, seconds, si

_BAR_PX = 9  # one series' bar within a case's row
_PANEL_PX = 70  # a panel's title and axis


def _panels(kinds: list[str], rows_per_kind: list[int], bars_per_row: int, title: str) -> go.Figure:
    # A case's row holds one bar per series, each thick enough to carry its value's label.
    row_px = max(22, bars_per_row * _BAR_PX + 10)
    heights = [max(n, 1) * row_px + _PANEL_PX for n in rows_per_kind]
    top = 130
    total = sum(heights) + top + 40 + 95 * (len(kinds) - 1)
    use_template()
    fig = make_subplots(
        rows=len(kinds),
        cols=1,
        row_heights=heights,
        subplot_titles=[KIND_TITLES.get(k, k) for k in kinds],
        # Room between panels for one's axis title and the next one's title.
        vertical_spacing=min(95 / total, 0.3 / max(len(kinds) - 1, 1)),
    )
    fig.update_layout(
        title=title,
        height=total,
        barmode="group",
        bargap=0.25,
        # Above the first panel's title, below the figure's.
        legend={
            "orientation": "h",
            "y": 1 + 45 / (total - top - 40),
            "yanchor": "bottom",
            "x": 0,
            "traceorder": "normal",
        },
        margin={"t": top, "l": 10, "b": 40},
        uniformtext={"minsize": 9, "mode": "show"},
    )
    # Subplot titles are annotations: left-align each over its panel.
    for annotation in fig.layout.annotations:
        annotation.update(x=0, xanchor="left", font={"size": 13})
    return fig


def timings_figure(bench: pd.DataFrame, colors: dict[str, str]) -> go.Figure:
    """Every case's median time per series as a dot with ± IQR/2, one panel per kind.

    Dots, not bars: on a log axis a bar's length depends on where the axis happens to start.
    """
    rows = labelled(bench)
    kinds = kinds_in_order(rows["kind"].astype(str))
    cases = {k: list(dict.fromkeys(rows.loc[rows["kind"] == k, "case"])) for k in kinds}
    n_series = rows["series"].nunique()
    fig = _panels(kinds, [len(cases[k]) for k in kinds], n_series, "Median time per case")
    fig.update_layout(scattermode="group", scattergap=0.4)
    shown: set[str] = set()
    for index, kind in enumerate(kinds, start=1):
        in_kind = rows[rows["kind"] == kind]
        for series in colors:
            part = in_kind[in_kind["series"] == series]
            if part.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    y=part["case"].tolist(),
                    x=part["median_s"].tolist(),
                    mode="markers+text",
                    orientation="h",  # series side by side within a case's row
                    error_x={"type": "data", "array": (part["iqr_s"].fillna(0) / 2).tolist()},
                    marker={"color": colors[series], "size": 9},
                    name=series,
                    legendgroup=series,
                    showlegend=series not in shown,
                    text=[seconds(v) for v in part["median_s"]],
                    textposition="middle right",
                    textfont={"size": 10, "color": colors[series]},
                    cliponaxis=False,
                    hovertemplate="%{y}<br>median %{text}<extra>" + series + "</extra>",
                ),
                row=index,
                col=1,
            )
            shown.add(series)
        fig.update_yaxes(
            categoryorder="array",
            categoryarray=list(reversed(cases[kind])),  # first case at the top
            automargin=True,
            row=index,
            col=1,
        )
        half_iqr = in_kind["iqr_s"].fillna(0) / 2
        # An interval reaching below zero has no place on a log axis: keep the range about the
        # medians rather than stretch it to nothing.
        low = (
            (in_kind["median_s"] - half_iqr)
            .where(
                in_kind["median_s"] - half_iqr > in_kind["median_s"] / 3, in_kind["median_s"] / 3
            )
            .min()
        )
        high = (in_kind["median_s"] + half_iqr).max()
        fig.update_xaxes(
            type="log", range=_decade_range(low, high), title_text="seconds (log)",
            row=index, col=1,
        )  # fmt: skip
    return fig


def _decade_range(low: float, high: float) -> list[float]:
    """A log range (in log10 units) holding low..high with room for labels, at least a decade
    wide: a 5 % spread drawn across the whole width would look like a factor."""
    lo, hi = math.log10(low), math.log10(high)
    pad = max((1 - (hi - lo)) / 2, 0.0) + 0.15
    return [lo - pad, hi + pad + 0.25]  # the right side holds the value's label


def speed_ratio_figure(ratios: pd.DataFrame, colors: dict[str, str]) -> go.Figure:
    """Time ratios (candidate ÷ reference) per case on a log axis centred at 1, one panel per
    kind, in the candidate's colour."""
    kinds = kinds_in_order(ratios["kind"].astype(str))
    cases = {k: list(dict.fromkeys(ratios.loc[ratios["kind"] == k, "case"])) for k in kinds}
    title = "Time ratios, candidate ÷ reference (above 1: the candidate is slower)"
    fig = _panels(kinds, [len(cases[k]) for k in kinds], ratios["comparison"].nunique(), title)
    # Symmetric in log: ×2 slower sits as far from 1 as ×0.5 faster, and a few percent of noise
    # is not blown up to the width of the plot.
    finite = [abs(math.log10(r)) for r in ratios["ratio"] if r > 0 and math.isfinite(r)]
    half = max(max(finite, default=0.0) * 1.15, math.log10(2))
    shown: set[str] = set()
    for index, kind in enumerate(kinds, start=1):
        in_kind = ratios[ratios["kind"] == kind]
        for comparison, part in in_kind.groupby("comparison", sort=False):
            candidate = str(part["candidate"].iloc[0])
            fig.add_trace(
                go.Bar(
                    y=part["case"].tolist(),
                    # Bars on a log axis would grow from its left edge; from 1 they show
                    # slower and faster apart: a bar spans base to base + x.
                    x=(part["ratio"] - 1).tolist(),
                    base=1,
                    orientation="h",
                    marker_color=colors.get(candidate, "#444"),
                    name=str(comparison),
                    legendgroup=str(comparison),
                    showlegend=comparison not in shown,
                    text=[ratio(r) for r in part["ratio"]],
                    textposition="outside",
                    cliponaxis=False,
                    customdata=list(
                        zip(
                            [seconds(v) for v in part["candidate_s"]],
                            [seconds(v) for v in part["reference_s"]],
                            strict=True,
                        )
                    ),
                    hovertemplate="%{y}<br>%{text}: %{customdata[0]} against %{customdata[1]}"
                    "<extra>" + str(comparison) + "</extra>",
                ),
                row=index,
                col=1,
            )
            shown.add(str(comparison))
        fig.add_vline(x=1.0, line_color="#444", line_width=1, row=index, col=1)
        fig.update_yaxes(
            categoryorder="array",
            categoryarray=list(reversed(cases[kind])),
            automargin=True,
            row=index,
            col=1,
        )
        fig.update_xaxes(
            type="log", range=[-half, half], title_text="time ratio (log)", row=index, col=1
        )
    return fig


def size_sweep_figure(
    sweep: pd.DataFrame, colors: dict[str, str], rooflines: dict[tuple[str, str], float]
) -> go.Figure:
    """Achieved GB/s of one epoch against N, each series' own colour, its copy roofline (GB/s by
    series and device, as the copy case shows it) dashed and drawn once per device (not once
    per dtype, where it would hide under itself)."""
    fig = figure()
    symbols = ("circle", "square", "diamond", "triangle-up", "x")
    dtypes = sorted(sweep["dtype"].dropna().astype(str).unique())
    for (series, device, dtype), rows in sweep.groupby(["series", "device", "dtype"], sort=True):
        rows = rows.sort_values("size")
        fig.add_trace(
            go.Scatter(
                x=rows["size"].astype(float).tolist(),
                y=rows["gb_per_s"].tolist(),
                mode="lines+markers",
                marker={"symbol": symbols[dtypes.index(str(dtype)) % len(symbols)], "size": 8},
                line={"color": colors.get(str(series), "#444")},
                name=f"{series} {device} {dtype}",
                legendgroup=str(series),
                hovertemplate="N=%{x:.3s}<br>%{y:.3g} GB/s<extra>%{fullData.name}</extra>",
            )
        )
    sizes = sweep["size"].dropna().astype(float)
    for series, device in sweep[["series", "device"]].drop_duplicates().itertuples(index=False):
        bandwidth = rooflines.get((str(series), str(device)))
        if bandwidth is None or sizes.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=[sizes.min(), sizes.max()],
                y=[bandwidth, bandwidth],
                mode="lines",
                line={"dash": "dash", "color": colors.get(str(series), "#444")},
                name=f"{series} {device}: copy {si(bandwidth * 1e9, 'B/s')} (roofline)",
                legendgroup=str(series),
                hoverinfo="name",
            )
        )
    fig.update_layout(
        title="Size sweep: achieved bandwidth of one epoch against the copy roofline",
        xaxis_title="samples N (log)",
        yaxis_title="GB/s (log)",
        xaxis_type="log",
        yaxis_type="log",
        height=480,
        legend={"traceorder": "grouped"},
    )
    return fig
