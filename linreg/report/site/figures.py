"""The history site's figures: a case's series over sessions, numerics over repro sets, and
the sessions each host ran.

Time runs along x (session start, UTC; plotly reads milliseconds since the epoch on a date
axis, which travel as typed arrays rather than text). A series' points stay joined while its
stack stays the same: a new torch or Python breaks the line, and a dotted line with the new
stack's name marks where a host changed stack. Each point's hover says the series, its date,
value, stack (torch, Python) and linreg commit.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from linreg.report.checks import describe
from linreg.report.colors import FAIL, PALETTE, PASS
from linreg.report.template import figure
from linreg.results.history import History, ReproSession, stack_words
from linreg.results.history_series import INSTRUCTIONS, WALL, Series
from linreg.results.repro_checks import ReproCheck
from linreg.results.run_comparison import LEVEL_NAMES, LEVELS, Comparison
from linreg.units import count, ratio, seconds

# Okabe–Ito first (colour-blind safe), then more for fleets of more than seven hosts.
COLORS = (*PALETTE, "#8C564B", "#7F7F7F", "#17BECF", "#BCBD22", "#393B79", "#AD494A")
_LAYOUT = {"height": 480, "hovermode": "closest"}
# Stack changes named above a figure; more are drawn as lines alone.
MAX_STACK_LABELS = 8
_DAY_MS = 86_400_000.0


def color(index: int) -> str:
    return COLORS[index % len(COLORS)]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


@dataclass(frozen=True)
class Timeline:
    """What every figure reads of the history: when each session started, what each host and
    stack is called, and the colour each keeps on every page."""

    history: History
    times_ms: np.ndarray  # each session's start, ms since the epoch (UTC)
    host_colors: dict[str, str]
    stack_colors: dict[str, str]
    stack_names: dict[str, str]  # stack key -> "torch 2.13.0+cpu, Python 3.11.7"

    @property
    def x_range(self) -> list[float]:
        """Every session's time and a little more: each case's figures span the same dates."""
        return padded(self.times_ms)

    @classmethod
    def of(cls, history: History) -> Timeline:
        sessions = history.sessions
        names = {}
        for record in (*sessions, *history.repro):
            names.setdefault(record.where.stack, record.where.stack_words)
        stacks = sorted(names, key=lambda k: (names[k], k))
        # Two stacks of one torch and Python (another OS, architecture or CPU capability) are
        # told apart by those; by their whole key where even that is the same (another build).
        worded = dict(names)
        for key in stacks:
            if sum(worded[k] == worded[key] for k in stacks) > 1:
                names[key] = f"{worded[key]} ({'-'.join(key.split('-')[-3:])})"
        worded = dict(names)
        for key in stacks:
            if sum(worded[k] == worded[key] for k in stacks) > 1:
                names[key] = key
        return cls(
            history=history,
            times_ms=np.array([_ms(s.started) for s in sessions], dtype=float),
            host_colors={h: color(i) for i, h in enumerate(history.hosts)},
            stack_colors={k: color(i) for i, k in enumerate(stacks)},
            stack_names=names,
        )

    def series_name(self, series: Series) -> str:
        if series.metric == WALL:
            return self.history.labels.get(series.key, series.key)
        return self.stack_names.get(series.key, series.key)

    def series_color(self, series: Series) -> str:
        colors = self.host_colors if series.metric == WALL else self.stack_colors
        return colors.get(series.key, COLORS[0])


def padded(times_ms: np.ndarray | Sequence[float]) -> list[float]:
    """The span of ``times_ms`` with 3 % (at least an hour) either side."""
    if not len(times_ms):
        return [0.0, _DAY_MS]
    low, high = float(np.min(times_ms)), float(np.max(times_ms))
    pad = max(0.03 * (high - low), 3_600_000.0)
    return [low - pad, high + pad]


def _ms(when: dt.datetime) -> float:
    return when.timestamp() * 1000.0


def date_words(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _value_words(metric: str, value: float) -> str:
    return seconds(value) if metric == WALL else f"{count(value)} instructions"


def _segments(stacks: Sequence[str]) -> list[tuple[int, int]]:
    """Runs of one stack: (start, end) positions, end exclusive."""
    bounds = [0, *(i for i in range(1, len(stacks)) if stacks[i] != stacks[i - 1]), len(stacks)]
    return list(itertools.pairwise(bounds))


def series_figure(series: Sequence[Series], timeline: Timeline, metric: str) -> go.Figure:
    """One metric of one case: each series a line over its sessions with its process band,
    its steps marked with their ratio where the new level starts, and stack changes named."""
    history = timeline.history
    unit = "s" if metric == WALL else ""
    # Traces as dicts and texts as arrays, validated once by the Figure: a figure of ten hosts'
    # thousand sessions builds several times faster than through add_trace.
    traces: list[dict] = []
    for one in series:
        name, hue = timeline.series_name(one), timeline.series_color(one)
        times = timeline.times_ms[one.sessions]
        records = [history.sessions[i] for i in one.sessions]
        stacks = [r.where.stack for r in records]
        commits = np.array([_commit_words(r) for r in records])
        for number, (start, end) in enumerate(_segments(stacks)):
            part = slice(start, end)
            traces.append(
                {"type": "scatter", "name": f"{name} band", "legendgroup": name,
                 "x": np.concatenate([times[part], times[part][::-1]]),
                 "y": np.concatenate([one.high[part], one.low[part][::-1]]),
                 "fill": "toself", "fillcolor": _rgba(hue, 0.18), "line": {"width": 0},
                 "hoverinfo": "skip", "showlegend": False}
            )  # fmt: skip
            where = records[start].where
            hover = (
                f"<b>{name}</b><br>%{{x|%Y-%m-%d %H:%M}} UTC<br>%{{y:.4s}}{unit}"
                f"<br>{timeline.stack_names.get(where.stack, where.stack_words)}"
                "<br>commit %{text}<extra></extra>"
            )
            traces.append(
                {"type": "scatter", "name": name, "legendgroup": name, "x": times[part],
                 "y": one.values[part], "mode": "lines+markers", "showlegend": number == 0,
                 "line": {"color": hue, "width": 1.5}, "marker": {"size": 4, "color": hue},
                 "hovertemplate": hover, "text": commits[part]}
            )  # fmt: skip
    fig = figure(traces)
    _mark_steps(fig, series, timeline)
    _mark_stack_changes(fig, series, timeline)
    title = (
        "Instructions per call, one series per stack"
        if metric == INSTRUCTIONS
        else "Wall time per call (median of the session's processes), one series per host"
    )
    fig.update_layout(
        **_LAYOUT,
        title=title,
        xaxis={"type": "date", "title": "session start (UTC)", "range": timeline.x_range},
        yaxis={"type": "log", "title": "instructions" if metric == INSTRUCTIONS else "seconds"},
        legend={"orientation": "h", "y": -0.18, "yanchor": "top", "x": 0},
        margin={"t": 110, "b": 40},
    )
    return fig


def _commit_words(session) -> str:
    commit = (session.where.commit or "?")[:8]
    dirty = "-dirty" if session.where.commit and session.where.commit.endswith("-dirty") else ""
    processes = f", {session.processes} processes" if session.processes > 1 else ""
    return f"{commit}{dirty}{processes}"


def step_words(step_ratio: float) -> str:
    return ratio(step_ratio)


def _mark_steps(fig: go.Figure, series: Sequence[Series], timeline: Timeline) -> None:
    """Every step, as a triangle (up: slower, red; down: faster, green) carrying its ratio, at
    the first session of its new level."""
    history = timeline.history
    xs, ys, texts, hovers, symbols, colors = [], [], [], [], [], []
    for one in series:
        for step in one.steps:
            session = history.sessions[step.session]
            xs.append(timeline.times_ms[step.session])
            ys.append(float(one.values[step.position]))
            texts.append(step_words(step.ratio))
            hovers.append(
                f"<b>step {step_words(step.ratio)}</b> ({timeline.series_name(one)})<br>"
                f"{_value_words(one.metric, step.before)} → "
                f"{_value_words(one.metric, step.after)}<br>"
                f"from {date_words(session.started)}, session {session.id}<br>"
                f"{timeline.stack_names.get(session.where.stack, session.where.stack_words)},"
                f" commit {_commit_words(session)}<br>{step.z:.0f} standard errors"
            )
            symbols.append("triangle-up" if step.slower else "triangle-down")
            colors.append(FAIL if step.slower else PASS)
    if not xs:
        return
    fig.add_trace(
        go.Scatter(
            x=np.array(xs), y=np.array(ys), mode="markers+text", name="steps", text=texts,
            textposition="top center", textfont={"size": 11, "color": colors},
            marker={"symbol": symbols, "size": 12, "color": colors,
                    "line": {"width": 1, "color": "#222"}},
            hovertext=hovers, hovertemplate="%{hovertext}<extra></extra>",
        )
    )  # fmt: skip


def stack_changes(series: Sequence[Series], timeline: Timeline) -> list[tuple[float, str]]:
    """Where a host's sessions changed stack: (time, the new stack's name), one per day and
    stack however many hosts changed then."""
    history = timeline.history
    seen: dict[tuple[int, str], float] = {}
    for one in series:
        if one.metric != WALL:
            continue
        stacks = [history.sessions[i].where.stack for i in one.sessions]
        for start, _ in _segments(stacks)[1:]:
            when = float(timeline.times_ms[one.sessions[start]])
            name = timeline.stack_names.get(stacks[start], stacks[start])
            seen.setdefault((int(when // _DAY_MS), name), when)
    return sorted((when, name) for (_, name), when in seen.items())


def _mark_stack_changes(fig: go.Figure, series: Sequence[Series], timeline: Timeline) -> None:
    for number, (when, name) in enumerate(stack_changes(series, timeline)):
        fig.add_shape(
            type="line", x0=when, x1=when, y0=0, y1=1, xref="x", yref="paper",
            line={"color": "#6b7280", "width": 1, "dash": "dot"},
        )  # fmt: skip
        if number < MAX_STACK_LABELS:
            fig.add_annotation(
                x=when, y=1.0 + 0.06 * (number % 3), xref="x", yref="paper", yanchor="bottom",
                xanchor="left", showarrow=False, text=f"→ {name}", font={"size": 10},
            )  # fmt: skip


def sessions_figure(timeline: Timeline) -> go.Figure:
    """Sessions each host ran, per day: where the history is dense and where it has gaps."""
    history = timeline.history
    fig = figure()
    days: dict[str, dict[float, int]] = {}
    for session, when in zip(history.sessions, timeline.times_ms, strict=True):
        day = math.floor(when / _DAY_MS) * _DAY_MS
        per_day = days.setdefault(session.where.host, {})
        per_day[day] = per_day.get(day, 0) + 1
    for host in history.hosts:
        if host not in days:
            continue
        x = np.array(sorted(days[host]))
        fig.add_trace(
            go.Scatter(
                x=x, y=np.array([days[host][d] for d in x]), mode="lines+markers",
                name=history.labels[host], line={"color": timeline.host_colors[host], "width": 1},
                marker={"size": 5}, hovertemplate="%{x|%Y-%m-%d}: %{y} sessions<extra>"
                + history.labels[host] + "</extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        **{**_LAYOUT, "height": 320},
        title="Benchmark sessions per day, per host",
        xaxis={"type": "date", "title": "day (UTC)"},
        yaxis={"title": "sessions", "rangemode": "tozero"},
        margin={"t": 50, "b": 40},
    )
    return fig


@dataclass(frozen=True)
class CheckPoint:
    """One check pair in one repro set."""

    set_index: int  # into History.repro
    check: ReproCheck
    comparison: Comparison


def check_series(history: History) -> dict[tuple[str, str], list[CheckPoint]]:
    """Each (host, check) that compared two runs, over the repro sets that hold it."""
    found: dict[tuple[str, str], list[CheckPoint]] = {}
    for index, repro in enumerate(history.repro):
        for check in repro.checks:
            if check.comparison is not None:
                key = (repro.where.host, describe(check).title)
                found.setdefault(key, []).append(CheckPoint(index, check, check.comparison))
    return found


def _repro_hover(repro: ReproSession, title: str, host: str, detail: str) -> str:
    where = repro.where
    return (
        f"<b>{title}</b><br>{host}, {date_words(repro.started)}<br>{detail}<br>"
        f"{stack_words(where.torch, where.python)}, commit {(where.commit or '?')[:8]}"
    )


def numerics_figures(history: History) -> list[tuple[str, go.Figure]]:
    """Per repro set, each check pair's level (a–d), its agreement horizon, how far apart its
    final values are against the outcome bound, and each run's final train loss: a drift that
    stays within tolerance shows here before a check fails."""
    series = check_series(history)
    times = [_ms(r.started) for r in history.repro]
    level = figure()
    horizon = figure()
    outcome = figure()
    # (host, run) -> set -> its final train loss: every check of one run in a set names the same.
    finals: dict[tuple[str, str], dict[int, float]] = {}
    for number, ((host, title), points) in enumerate(sorted(series.items())):
        hue = color(number)
        label = f"{title} · {history.labels.get(host, host)}"
        x = np.array([times[p.set_index] for p in points])
        comparisons = [p.comparison for p in points]
        hovers = []
        levels, horizons, apart = [], [], []
        for point, comparison in zip(points, comparisons, strict=True):
            repro = history.repro[point.set_index]
            whole = repro.epochs
            reached = comparison.horizon
            horizons.append(float(reached if reached is not None else (whole or math.nan)))
            levels.append(float(LEVELS.index(comparison.level)))
            apart.append(outcome_distance(comparison))
            agreed = "the whole run" if reached is None else f"epoch {reached}"
            hovers.append(
                _repro_hover(repro, title, history.labels.get(host, host),
                             f"level {comparison.level} ({comparison.level_name}),"
                             f" within tolerance to {agreed}; final difference {apart[-1]:.2g} ×"
                             " the outcome bound")
            )  # fmt: skip
            subject = point.check.subject
            loss = comparison.final_candidate.get("train_loss")
            if _number(loss):
                finals.setdefault((host, subject), {}).setdefault(point.set_index, float(loss))
        common = {"name": label, "legendgroup": label, "line": {"color": hue, "width": 1.5},
                  "marker": {"size": 7, "color": hue}, "mode": "lines+markers",
                  "hovertext": hovers, "hovertemplate": "%{hovertext}<extra></extra>"}  # fmt: skip
        level.add_trace(go.Scatter(x=x, y=np.array(levels), **common))
        horizon.add_trace(go.Scatter(x=x, y=np.array(horizons), **common, showlegend=False))
        outcome.add_trace(go.Scatter(x=x, y=np.array(apart), **common, showlegend=False))
    final = figure()
    for number, ((host, subject), by_set) in enumerate(sorted(finals.items())):
        points = sorted(by_set.items())
        label = f"{subject} · {history.labels.get(host, host)}"
        final.add_trace(
            go.Scatter(
                x=np.array([times[i] for i, _ in points]), y=np.array([v for _, v in points]),
                mode="lines+markers", name=label, line={"color": color(number), "width": 1.5},
                hovertext=[_repro_hover(history.repro[i], subject, history.labels.get(host, host),
                                        f"final train loss {v:.9g}") for i, v in points],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )  # fmt: skip
    axis = {"type": "date", "title": "repro set start (UTC)", "range": padded(times)}
    level.update_layout(
        **_LAYOUT, title="Level each check pair reached", xaxis=axis,
        yaxis={"title": "level", "tickvals": [0, 1, 2, 3], "range": [-0.3, 3.3],
               "ticktext": [f"{k} {LEVEL_NAMES[k]}" for k in LEVELS]},
        legend={"orientation": "h", "y": -0.2, "yanchor": "top", "x": 0},
    )  # fmt: skip
    horizon.update_layout(
        **_LAYOUT, title="Agreement horizon: the first epoch beyond tolerance (within it "
        "throughout: the run's length)", xaxis=axis,
        yaxis={"title": "epoch", "rangemode": "tozero"},
    )  # fmt: skip
    outcome.update_layout(
        **_LAYOUT, title="Final weight, bias and loss apart, in units of the outcome bound "
        "(beyond 1: not the same outcome)", xaxis=axis,
        yaxis={"title": "× outcome bound", "rangemode": "tozero"},
    )  # fmt: skip
    outcome.add_hline(y=1.0, line={"color": FAIL, "dash": "dash", "width": 1})
    final.update_layout(
        **_LAYOUT, title="Final train loss of each run", xaxis=axis,
        yaxis={"title": "train loss", "exponentformat": "e"},
        legend={"orientation": "h", "y": -0.2, "yanchor": "top", "x": 0},
    )  # fmt: skip
    return [
        ("numerics-level", level),
        ("numerics-horizon", horizon),
        ("numerics-outcome", outcome),
        ("numerics-final-loss", final),
    ]


def outcome_distance(comparison: Comparison) -> float:
    """How far apart a pair's final weight, bias and train loss are, in units of the bound an
    outcome-equivalent pair (level c) must keep (linreg.results.run_comparison.OutcomeBound): 0
    for bit-identical runs, beyond 1 for different outcomes; NaN where the record lacks them."""
    candidate, reference, bound = (
        comparison.final_candidate,
        comparison.final_reference,
        comparison.bound,
    )
    ratios = []
    for value, limit in (("weight", bound.weight), ("bias", bound.bias),
                         ("train_loss", bound.loss)):  # fmt: skip
        c, r = candidate.get(value), reference.get(value)
        if not (_number(c) and _number(r) and _number(limit)) or limit <= 0:
            return math.nan
        ratios.append(abs(c - r) / limit)
    return max(ratios)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
