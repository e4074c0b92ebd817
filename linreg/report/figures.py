"""The report's figures, each from a tidy DataFrame or a list of loss curves."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from linreg.run import LossCurve

_LAYOUT = {"template": "plotly_white", "height": 460}


def _log_toggle(axis: str = "yaxis") -> list[dict]:
    """Buttons that switch an axis between linear and log scale."""
    return [
        {
            "type": "buttons",
            "direction": "right",
            "x": 1.0,
            "y": 1.15,
            "xanchor": "right",
            "buttons": [
                {"label": "linear", "method": "relayout", "args": [{f"{axis}.type": "linear"}]},
                {"label": "log", "method": "relayout", "args": [{f"{axis}.type": "log"}]},
            ],
        }
    ]


def loss_curves_figure(curves: Sequence[tuple[str, LossCurve]], title: str) -> go.Figure:
    """Train loss per epoch for each labelled run, overlaid, with a log-scale toggle."""
    fig = go.Figure()
    for label, curve in curves:
        fig.add_trace(
            go.Scatter(
                x=list(range(curve.epochs)), y=list(curve.train_loss), mode="lines", name=label
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="epoch",
        yaxis_title="train loss",
        updatemenus=_log_toggle(),
        **_LAYOUT,
    )
    return fig


def case_label(row: pd.Series) -> str:
    parts = [str(row["kind"]), str(row["device"]), str(row["dtype"]), str(row["engine"])]
    if pd.notna(row.get("size")):
        parts.append(f"N={int(row['size']):g}")
    if pd.notna(row.get("threads")):
        parts.append(f"{int(row['threads'])}t")
    if pd.notna(row.get("seed")):
        parts.append(f"seed {int(row['seed'])}")
    return " ".join(parts)


def timings_figure(bench: pd.DataFrame) -> go.Figure:
    """Median time per case with its interquartile range, one colour per machine."""
    fig = go.Figure()
    for machine, rows in bench.groupby("machine", sort=True):
        rows = rows.sort_values(["kind", "device", "dtype", "size"], na_position="first")
        half_iqr = (rows["iqr_s"].fillna(0) / 2).tolist()
        fig.add_trace(
            go.Bar(
                x=[case_label(r) for _, r in rows.iterrows()],
                y=rows["median_s"].tolist(),
                error_y={"type": "data", "array": half_iqr, "visible": True},
                name=str(machine),
                hovertemplate="%{x}<br>median %{y:.3g} s<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        title="Median time per case (error bars: ± IQR/2)",
        barmode="group",
        yaxis_title="seconds",
        yaxis_type="log",
        updatemenus=_log_toggle(),
        **_LAYOUT,
    )
    return fig


_MATCH = ["kind", "dtype", "engine", "size", "threads", "seed"]


def speed_ratios(bench: pd.DataFrame) -> pd.DataFrame:
    """Time ratios on matching cases: cpu/gpu within a machine, and machine against machine.

    A ratio above 1 means the second named side is faster.
    """
    keyed = bench.assign(**{k: bench[k].astype("string").fillna("-") for k in _MATCH})
    rows: list[dict] = []
    for machine, group in keyed.groupby("machine"):
        cpu = group[group["device"] == "cpu"].set_index(_MATCH)["median_s"]
        for device in sorted(set(group["device"]) - {"cpu"}):
            other = group[group["device"] == device].set_index(_MATCH)["median_s"]
            for key in cpu.index.intersection(other.index):
                rows.append(
                    {
                        "comparison": f"{machine}: cpu / {device}",
                        "case": " ".join(key),
                        "ratio": float(cpu[key] / other[key]),
                    }
                )
    machines = sorted(keyed["machine"].unique())
    for i, first in enumerate(machines):
        for second in machines[i + 1 :]:
            a = keyed[keyed["machine"] == first].set_index(["device", *_MATCH])["median_s"]
            b = keyed[keyed["machine"] == second].set_index(["device", *_MATCH])["median_s"]
            for key in a.index.intersection(b.index):
                rows.append(
                    {
                        "comparison": f"{first} / {second}",
                        "case": " ".join(key),
                        "ratio": float(a[key] / b[key]),
                    }
                )
    return pd.DataFrame(rows, columns=["comparison", "case", "ratio"])


def speed_ratio_figure(ratios: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for comparison, rows in ratios.groupby("comparison", sort=True):
        fig.add_trace(
            go.Bar(x=rows["case"].tolist(), y=rows["ratio"].tolist(), name=str(comparison))
        )
    fig.add_hline(y=1.0, line_dash="dot", line_color="#888")
    fig.update_layout(
        title="Speed ratios on matching cases (time of first / time of second)",
        barmode="group",
        yaxis_title="ratio",
        yaxis_type="log",
        **_LAYOUT,
    )
    return fig


def size_sweep_figure(sweep: pd.DataFrame) -> go.Figure:
    """Achieved GB/s of one epoch against N, beside each device's measured copy bandwidth."""
    fig = go.Figure()
    for (machine, device, dtype), rows in sweep.groupby(["machine", "device", "dtype"]):
        rows = rows.sort_values("size")
        name = f"{machine} {device} {dtype}"
        fig.add_trace(
            go.Scatter(
                x=rows["size"].tolist(),
                y=rows["gb_per_s"].tolist(),
                mode="lines+markers",
                name=name,
            )
        )
        copy = rows["copy_gb_per_s"].dropna()
        if not copy.empty:
            fig.add_trace(
                go.Scatter(
                    x=[rows["size"].min(), rows["size"].max()],
                    y=[copy.iloc[0]] * 2,
                    mode="lines",
                    line={"dash": "dash"},
                    name=f"{name}: copy bandwidth (roofline)",
                )
            )
    fig.update_layout(
        title="Size sweep: achieved bandwidth of one epoch vs the copy roofline",
        xaxis_title="samples N",
        yaxis_title="GB/s",
        xaxis_type="log",
        yaxis_type="log",
        **_LAYOUT,
    )
    return fig


def repro_matrix_figure(pairs: pd.DataFrame) -> go.Figure:
    """Pairs of configs coloured by log10 of the max relative difference; '=' marks bitwise."""
    labels = sorted(set(pairs["a"]) | set(pairs["b"]))
    index = {label: i for i, label in enumerate(labels)}
    z: list[list[float | None]] = [[None] * len(labels) for _ in labels]
    text: list[list[str]] = [[""] * len(labels) for _ in labels]
    for _, row in pairs.iterrows():
        i, j = index[row["a"]], index[row["b"]]
        rel = float(row["max_rel_diff"])
        value = -17.0 if row["bitwise"] or rel == 0 else math.log10(rel)
        mark = (
            "="
            if row["bitwise"]
            else f"{int(row['max_ulp'])} ulp"
            if pd.notna(row.get("max_ulp"))
            else ""
        )
        for a, b in ((i, j), (j, i)):
            z[a][b], text[a][b] = value, mark
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            colorscale="Viridis",
            zmin=-17,
            zmax=0,
            colorbar={"title": "log10 max rel diff"},
            hovertemplate="%{y}<br>vs %{x}<br>log10 rel diff %{z:.2f}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(title="Reproducibility matrix ('=' bit-identical)", **_LAYOUT)
    fig.update_yaxes(autorange="reversed")  # read top-down in the same order as the x axis
    return fig


def band_figure(band: pd.DataFrame, title: str) -> go.Figure:
    """The sweep's per-epoch median and 5th–95th percentile band of the train loss."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=band["epoch"].tolist(),
            y=band["p95"].tolist(),
            mode="lines",
            line={"width": 0},
            name="95th percentile",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=band["epoch"].tolist(),
            y=band["p5"].tolist(),
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            name="5th–95th percentile",
        )
    )
    fig.add_trace(
        go.Scatter(x=band["epoch"].tolist(), y=band["median"].tolist(), mode="lines", name="median")
    )
    fig.update_layout(
        title=title,
        xaxis_title="epoch",
        yaxis_title="train loss",
        updatemenus=_log_toggle(),
        **_LAYOUT,
    )
    return fig
