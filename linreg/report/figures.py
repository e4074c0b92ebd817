"""The report's figures of runs: loss curves, the reproducibility matrix, a sweep's band."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from linreg.report.colors import FAIL, PALETTE
from linreg.report.template import figure, use_template
from linreg.run import LossCurve
from linreg.units import missing

_LAYOUT = {"height": 460}


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


@dataclass(frozen=True)
class CurveGroup:
    """Runs whose train losses are bit-identical, drawn as one line."""

    label: str
    members: tuple[str, ...]
    curve: LossCurve


def group_identical_curves(curves: Sequence[tuple[str, LossCurve]]) -> list[CurveGroup]:
    """One group per distinct train-loss sequence, sorted by label. Identical lines drawn one
    over another hide all but the last; one line that says "6 runs, bit-identical" hides
    nothing."""
    groups: dict[tuple[float, ...], list[str]] = {}
    first: dict[tuple[float, ...], LossCurve] = {}
    for label, curve in curves:
        groups.setdefault(curve.train_loss, []).append(label)
        first.setdefault(curve.train_loss, curve)
    out = []
    for key, labels in groups.items():
        members = tuple(sorted(labels))
        name = members[0] if len(members) == 1 else _shared_label(members)
        out.append(CurveGroup(name, members, first[key]))
    return sorted(out, key=lambda g: g.label)


# Words of a run's title that name the value after them ("seed 42", "threads all").
_KEYS = {"seed", "threads", "lr", "epochs", "samples", "loss"}


def _shared_label(members: Sequence[str]) -> str:
    """'cpu float32 seed 42 eager (2 runs, bit-identical: threads 1, threads all)': the words
    the members share, then what tells them apart. Titles are compared word by word (they are
    built alike: device, dtype, seed, threads, engine); a value differing takes its key along."""
    split = [m.split() for m in members]
    if len({len(words) for words in split}) != 1:
        return f"{len(members)} runs, bit-identical: {', '.join(members)}"
    width = len(split[0])
    differing = {i for i in range(width) if len({words[i] for words in split}) > 1}
    differing |= {i - 1 for i in differing if i > 0 and split[0][i - 1] in _KEYS}
    shared = " ".join(w for i, w in enumerate(split[0]) if i not in differing)
    apart = sorted({" ".join(words[i] for i in sorted(differing)) for words in split})
    return f"{shared} ({len(members)} runs, bit-identical: {', '.join(apart)})"


def loss_curves_figure(curves: Sequence[tuple[str, LossCurve]], title: str) -> go.Figure:
    """Train loss per epoch, one line per group of bit-identical runs, legend sorted, with a
    log-scale toggle."""
    fig = figure()
    groups = group_identical_curves(curves)
    # Runs of one seed in two dtypes agree for hundreds of epochs: one colour per seed and one
    # dash per dtype keep both visible where they lie on each other.
    seeds = sorted({_word_after(g.label, "seed") for g in groups})
    dtypes = sorted({_dtype_of(g.label) for g in groups})
    for group in groups:
        seed_index = seeds.index(_word_after(group.label, "seed"))
        dtype_index = dtypes.index(_dtype_of(group.label))
        fig.add_trace(
            go.Scatter(
                x=list(range(group.curve.epochs)),
                y=list(group.curve.train_loss),
                mode="lines",
                line={
                    "color": PALETTE[seed_index % len(PALETTE)],
                    "dash": _DASHES[dtype_index % len(_DASHES)],
                },
                name=group.label,
                hovertemplate="epoch %{x}<br>train loss %{y:.4g}<extra>"
                + "<br>".join(group.members)
                + "</extra>",
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="epoch",
        yaxis_title="train loss",
        updatemenus=_log_toggle(),
        legend={"orientation": "h", "y": -0.2, "yanchor": "top", "x": 0},
        height=520,
    )
    return fig


_DASHES = ("solid", "dash", "dot", "dashdot")
_DTYPES = ("bfloat16", "float16", "float32", "float64")


def _word_after(label: str, key: str) -> str:
    words = label.split()
    return words[words.index(key) + 1] if key in words[:-1] else ""


def _dtype_of(label: str) -> str:
    return next((w for w in label.split() if w in _DTYPES), "")


def repro_matrix_figure(pairs: pd.DataFrame) -> go.Figure:
    """Pairs of configs coloured by log10 of the largest relative difference while they agree;
    each cell says the level reached in a symbol, failing cells are boxed in red."""
    labels = sorted(set(pairs["a"]) | set(pairs["b"]))
    index = {label: i for i, label in enumerate(labels)}
    z: list[list[float | None]] = [[None] * len(labels) for _ in labels]
    text: list[list[str]] = [[""] * len(labels) for _ in labels]
    hover: list[list[str]] = [[""] * len(labels) for _ in labels]
    failing: list[tuple[int, int]] = []
    for _, row in pairs.iterrows():
        i, j = index[row["a"]], index[row["b"]]
        before = row.get("max_rel_before_horizon")
        rel = float(before) if not missing(before) else float(row["max_rel_diff"])
        value = -17.0 if row["bitwise"] or rel == 0 else math.log10(rel)
        mark = _cell_mark(row)
        for a, b in ((i, j), (j, i)):
            z[a][b], text[a][b] = value, mark
            hover[a][b] = f"{row['reached']}; {'holds' if row['holds'] else 'FAILS'}"
            if not row["holds"]:
                failing.append((a, b))
    use_template()
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            text=text,
            customdata=hover,
            texttemplate="%{text}",
            colorscale="Blues",
            reversescale=True,
            zmin=-17,
            zmax=0,
            colorbar={"title": "log10 max rel diff<br>while within tolerance"},
            hovertemplate="%{y}<br>vs %{x}<br>%{customdata}<extra></extra>",
        )
    )
    for a, b in failing:
        fig.add_shape(
            type="rect",
            x0=b - 0.5,
            x1=b + 0.5,
            y0=a - 0.5,
            y1=a + 0.5,
            line={"color": FAIL, "width": 3},
        )
    fig.update_layout(
        title="Reproducibility matrix: = bit-identical, ≈ within tolerance, "
        "~N within tolerance to epoch N then the same outcome, ✗ a check fails",
        height=max(460, 40 * len(labels) + 200),
    )
    fig.update_yaxes(autorange="reversed", automargin=True)  # read top-down like the x axis
    fig.update_xaxes(automargin=True)
    return fig


def _cell_mark(row: pd.Series) -> str:
    if not row["holds"]:
        return "✗"
    if row["level"] == "a":
        return "="
    if row["level"] == "b":
        return "≈"
    horizon = row.get("horizon")
    return f"~{int(horizon)}" if not missing(horizon) else row["level"]


def band_figure(band: pd.DataFrame, title: str) -> go.Figure:
    """The sweep's per-epoch median and 5th–95th percentile band of the train loss."""
    fig = figure()
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
