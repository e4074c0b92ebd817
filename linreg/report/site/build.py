"""`linreg history`'s work: gather every session of the results trees given, find each
series' steps, and write the site (index, a page per case, numerics), whole or not at all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from plotly.offline import get_plotlyjs

from linreg.compare.op_history import op_steps
from linreg.compare.over_time import DEFAULT_THRESHOLD, case_series, regressions
from linreg.compare.target_versions import version_notes
from linreg.report.checks import describe, reached_words
from linreg.report.site import figures, pages
from linreg.report.site.figures import Timeline, date_words, step_words
from linreg.report.site.op_steps import ops_part
from linreg.report.site.pages import cell, figure, note, page, table
from linreg.report.site.publish import MARKER, check_out, marker, staged
from linreg.report.step_words import change_words, outcome_words
from linreg.results.history import History, HistorySession, gather
from linreg.results.history_series import (
    INSTRUCTIONS,
    NOISE,
    RECENT_SESSIONS,
    REGRESSION,
    SPEED_UP,
    UNDECIDED_STEP,
    WALL,
    Regression,
    Series,
)
from linreg.units import count, percent, seconds

Progress = Callable[[int, int, str], None]
METRIC_WORDS = {INSTRUCTIONS: "instructions", WALL: "wall time"}


@dataclass(frozen=True)
class SiteSummary:
    path: Path
    sessions: int
    repro_sets: int
    hosts: int
    machines: int
    stacks: int
    cases: int
    steps: int
    # Every step (and pending jump) in the newest sessions of a series, judged: its kind says
    # whether it is a regression, undecided, a speed-up or noise.
    regressions: tuple[Regression, ...]
    pages: int
    bytes: int
    notes: tuple[str, ...]

    @property
    def slower(self) -> int:
        """The regressions: slower steps, earned, with something changed across them."""
        return sum(r.kind == REGRESSION for r in self.regressions)

    def count(self, kind: str) -> int:
        return sum(r.kind == kind for r in self.regressions)


def build_site(
    paths: Sequence[str | Path],
    out: str | Path,
    threshold: float = DEFAULT_THRESHOLD,
    recent: int = RECENT_SESSIONS,
    on_progress: Progress | None = None,
) -> SiteSummary:
    """Read ``paths``, find steps, write the site to ``out`` (new, empty, or an earlier site:
    checked before any work)."""
    out = Path(out)
    check_out(out)
    history = gather(paths, on_progress)
    series = case_series(history, threshold, on_progress)
    return write_site(history, series, out, threshold, recent, on_progress)


def write_site(
    history: History,
    series: dict[str, list[Series]],
    out: Path,
    threshold: float,
    recent: int,
    on_progress: Progress | None = None,
) -> SiteSummary:
    timeline = Timeline.of(history)
    links = pages.case_pages(series)
    every = [s for found in series.values() for s in found]
    listed = regressions(every, recent, history, threshold)
    notes = history_notes(history)
    numerics = bool(history.repro)
    total = len(series) + 2 + numerics
    with staged(out) as folder:
        (folder / pages.PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
        (folder / pages.CASES).mkdir()
        for done, (case, found) in enumerate(sorted(series.items()), start=1):
            text = case_page(case, found, timeline, threshold, numerics)
            (folder / links[case]).write_text(text, encoding="utf-8")
            if on_progress is not None:
                on_progress(done, total, "writing pages")
        if numerics:
            (folder / pages.NUMERICS).write_text(numerics_page(history), encoding="utf-8")
        index = index_page(history, series, listed, links, timeline, threshold, recent, notes)
        (folder / pages.INDEX).write_text(index, encoding="utf-8")
        body = {
            "built": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "sources": list(history.sources),
            "sessions": len(history.sessions),
            "repro_sets": len(history.repro),
            "threshold": threshold,
            "recent": recent,
        }
        (folder / MARKER).write_text(marker(body), encoding="utf-8")
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        pages_written = len(series) + 1 + numerics
        if on_progress is not None:
            on_progress(total, total, "writing pages")
    return SiteSummary(
        path=out,
        sessions=len(history.sessions),
        repro_sets=len(history.repro),
        hosts=len(history.labels),
        machines=len({r.where.machine for r in (*history.sessions, *history.repro)}),
        stacks=len(history.stacks),
        cases=len(series),
        steps=sum(len(s.steps) for s in every),
        regressions=tuple(listed),
        pages=pages_written,
        bytes=size,
        notes=tuple(notes),
    )


def history_notes(history: History) -> list[str]:
    """What the reader should know of the inputs: copies counted once, files passed over,
    hosts that cannot be told apart."""
    notes = []
    if history.copies:
        notes.append(
            f"{history.copies} files were copies of files read from another place (the same "
            "session's files in two trees, or a baseline kept again under its stack key): "
            "each is counted once."
        )
    machines = history.without_host_id
    if machines:
        notes.append(
            f"Files of {', '.join(machines)} carry no host id (written before linreg recorded "
            "one): their sessions are one series per machine name, which every host of that "
            "CPU model and core count shares."
        )
    for host_id, names in history.renamed.items():
        notes.append(
            f"Host {host_id[:6]} ran under the machine names {' and '.join(names)} (linreg bench "
            "--machine NAME): each name is its own host here, with its own sessions and series, "
            "so no step is measured across the renaming."
        )
    if history.unreadable:
        shown = "; ".join(f"{path}: {why}" for path, why in history.unreadable[:5])
        more = len(history.unreadable) - 5
        notes.append(
            f"{len(history.unreadable)} files could not be read and were passed over: {shown}"
            + (f"; and {more} more" if more > 0 else "")
        )
    notes += version_notes(history.cases)  # a target's code hash is part of its case ids
    if history.untimed:
        notes.append(f"{history.untimed} sessions or repro sets say no time: left out.")
    if history.unfinished:
        notes.append(f"{history.unfinished} repro sets have no checks.json (unfinished): left out.")
    return notes


def _session_commit_range(history: History, one: Series, position: int) -> str:
    """The commits between the last session at the old level and the first at the new."""
    after = history.sessions[int(one.sessions[position])].where.commit
    before = history.sessions[int(one.sessions[position - 1])].where.commit if position else None
    short = [(c or "?")[:8] for c in (before, after)]
    return short[1] if short[0] == short[1] else f"{short[0]}..{short[1]}"


def _level_words(metric: str, value: float) -> str:
    return seconds(value) if metric == WALL else count(value)


def index_page(
    history: History,
    series: dict[str, list[Series]],
    listed: list[Regression],
    links: dict[str, str],
    timeline: Timeline,
    threshold: float,
    recent: int,
    notes: list[str],
) -> str:
    built = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        note(
            f"Built {built} from {', '.join(history.sources)}: {len(history.sessions):,} "
            f"benchmark sessions on {len(history.labels)} hosts, {len(history.stacks)} stacks, "
            f"{len(series)} cases; {len(history.repro)} repro result sets."
        ),
        *(note(n) for n in notes),
        '<h2 id="regressions">Regressions</h2>',
        note(
            f"Steps whose new level began in the newest {recent} sessions of their series, each "
            f"at least {percent(threshold)} (PELT on log values; a step must stand out of the "
            "series' own noise), judged as a speed verdict judges a case: the sessions before "
            "it against the sessions after it, one sample a session (wall time: the rank "
            "interval at 99 % wholly beyond the threshold; instruction counts: beyond it and "
            "twice the spread before). A regression is a slower step so earned with something "
            "changed across it (commit, stack or host); the same code on the same stack and "
            "host is the machine, listed as noise. Wall time is a series per host; instruction "
            "counts a series per stack, whatever host ran them."
        ),
    ]
    for kind, anchor, title, empty in _STEP_LISTS:
        mine = [r for r in listed if r.kind == kind]
        if kind != REGRESSION:
            if not mine:
                continue
            parts.append(f'<h3 id="{anchor}">{title}</h3>')
        if not mine:
            parts.append(note(empty.format(recent=recent)))
            continue
        rows = [_step_row(history, timeline, links, r) for r in mine]
        css = {REGRESSION: "slower", SPEED_UP: "faster"}.get(kind, "")
        parts.append(table(_STEP_COLUMNS, rows, [css] * len(rows), anchor))
    parts += ['<h2 id="machines">Machines</h2>', _machines_table(history)]
    parts += ['<h2 id="stacks">Stacks</h2>', _stacks_table(history, timeline)]
    if history.sessions:
        parts.append(figure("sessions", figures.sessions_figure(timeline)))
    parts += ['<h2 id="cases">Cases</h2>', _cases_table(series, links, recent)]
    if history.repro:
        parts.append(
            f'<p><a href="{pages.NUMERICS}">Numerics over time</a>: {len(history.repro)} repro '
            "result sets, each check pair's level, horizon and final loss.</p>"
        )
    return page("linreg history", parts, numerics=bool(history.repro))


_STEP_COLUMNS = ["case", "metric", "series", "step", "level", "from", "sessions since",
                 "what changed", "judged"]  # fmt: skip
# (kind, anchor, heading, what an empty list says): regressions always, the rest where found.
_STEP_LISTS = (
    (REGRESSION, "regressions", "Regressions",
     "No series stepped slower, earned, in its newest {recent} sessions."),
    (UNDECIDED_STEP, "undecided", "Undecided: too few sessions or too much noise to tell", ""),
    (SPEED_UP, "speed-ups", "Speed-ups", ""),
    (NOISE, "noise", "Noise: the machine, not the code", ""),
)  # fmt: skip


def _step_row(history: History, timeline: Timeline, links: dict[str, str], r: Regression) -> list:
    since = f"{r.sessions_ago} of {len(r.series):,}" + (" (a jump, not yet a step)"
                                                         if r.pending else "")  # fmt: skip
    return [
        cell(pages.case_title(r.series.case), links[r.series.case]),
        cell(METRIC_WORDS[r.series.metric]),
        cell(timeline.series_name(r.series)),
        cell(step_words(r.step.ratio), css="ratio"),
        cell(
            f"{_level_words(r.series.metric, r.step.before)} → "
            f"{_level_words(r.series.metric, r.step.after)}"
        ),
        cell(date_words(history.sessions[r.step.session].started)),
        cell(since),
        cell(change_words(r.change) or _session_commit_range(history, r.series, r.step.position)),
        cell(outcome_words(r)),
    ]


def _newest(records):
    return max(records, key=lambda r: r.started) if records else None


def _machines_table(history: History) -> str:
    rows = []
    for host in history.hosts:
        sessions = [s for s in history.sessions if s.where.host == host]
        repro = [r for r in history.repro if r.where.host == host]
        newest = _newest([*sessions, *repro])
        where = newest.where
        rows.append(
            [
                cell(history.labels[host]),
                cell(where.machine),
                cell(where.host_id or "none (older files)"),
                cell(f"{len(sessions):,}"),
                cell(f"{len(repro):,}"),
                cell(date_words(min(r.started for r in [*sessions, *repro]))),
                cell(date_words(newest.started)),
                cell(where.stack_words),
                cell((where.commit or "?")[:8]),
            ]
        )
    columns = ["host", "machine", "host id", "sessions", "repro sets", "first", "newest",
               "newest stack", "newest commit"]  # fmt: skip
    return table(columns, rows, name="machines")


def _stacks_table(history: History, timeline: Timeline) -> str:
    rows = []
    for stack in history.stacks:
        records = [r for r in (*history.sessions, *history.repro) if r.where.stack == stack]
        hosts = sorted({history.labels[r.where.host] for r in records})
        newest = _newest(records)
        rows.append(
            [
                cell(timeline.stack_names.get(stack, stack)),
                cell(stack),
                cell(", ".join(hosts)),
                cell(f"{sum(isinstance(r, HistorySession) for r in records):,}"),
                cell(date_words(newest.started)),
                cell(history.labels[newest.where.host]),
            ]
        )
    columns = ["stack", "key", "hosts", "sessions", "newest", "newest on"]
    return table(columns, rows, name="stacks")


def _cases_table(series: dict[str, list[Series]], links: dict[str, str], recent: int) -> str:
    rows = []
    for case, found in sorted(series.items()):
        by_metric = {m: [s for s in found if s.metric == m] for m in (INSTRUCTIONS, WALL)}
        rows.append(
            [
                cell(pages.case_title(case), links[case]),
                cell(len(by_metric[INSTRUCTIONS])),
                cell(len(by_metric[WALL])),
                cell(sum(len(s.steps) for s in found)),
                cell(sum(len(s.recent_steps(recent)) for s in found)),
            ]
        )
    columns = ["case", "instruction series (stacks)", "wall-time series (hosts)", "steps",
               f"steps in the newest {recent} sessions"]  # fmt: skip
    return table(columns, rows, name="cases")


def case_page(
    case: str, found: list[Series], timeline: Timeline, threshold: float, numerics: bool
) -> str:
    history = timeline.history
    parts = [
        note(f"Case {case}."),
        note(
            "Each point is a session: the median of its processes. The band spans its lowest "
            "and highest process (one process: its rounds' first to third quartile). "
            f"Triangles mark steps of at least {percent(threshold)} where the new level "
            "starts, with its ratio (red: slower, green: faster); dotted lines, where a host "
            "moved to another stack (named above the figure). Hover a point for its stack "
            "and commit."
        ),
    ]
    for metric in (INSTRUCTIONS, WALL):
        mine = [s for s in found if s.metric == metric]
        if mine:
            name = "instructions" if metric == INSTRUCTIONS else "wall"
            parts.append(figure(name, figures.series_figure(mine, timeline, metric)))
    steps = [(s, step) for s in found for step in s.steps]
    parts.append("<h2>Steps</h2>")
    if steps:
        rows = [
            [
                cell(METRIC_WORDS[s.metric]),
                cell(timeline.series_name(s)),
                cell(step_words(step.ratio), css="ratio"),
                cell(
                    f"{_level_words(s.metric, step.before)} → {_level_words(s.metric, step.after)}"
                ),
                cell(date_words(history.sessions[step.session].started)),
                cell(history.sessions[step.session].id),
                cell(_session_commit_range(history, s, step.position)),
                cell(f"{step.z:.0f}"),
            ]
            for s, step in steps
        ]
        classes = ["slower" if step.slower else "faster" for _, step in steps]
        columns = ["metric", "series", "step", "level", "from", "session", "commits",
                   "standard errors"]  # fmt: skip
        parts.append(table(columns, rows, classes, "steps"))
    else:
        parts.append(note("No step in any series of this case."))
    parts += ops_part(history, op_steps(history, case))
    return page(pages.case_title(case), parts, depth=1, numerics=numerics)


def numerics_page(history: History) -> str:
    parts = [
        note(
            f"{len(history.repro)} repro result sets, oldest first. Per set and check pair: "
            "the level reached (a bit-identical, b within tolerance, c the same outcome, "
            "d different), the agreement horizon (the first epoch beyond tolerance), how far "
            "apart its final weight, bias and loss are in units of the outcome bound a level-c "
            "pair must keep, and each run's final train loss. A horizon moving earlier, or a "
            "pair creeping toward 1 × the bound, is a drift that is still within its "
            "requirement: visible here before a check fails."
        )
    ]
    parts += [figure(name, fig) for name, fig in figures.numerics_figures(history)]
    parts.append("<h2>Newest repro set of each host</h2>")
    for host in history.hosts:
        sets = [r for r in history.repro if r.where.host == host]
        if not sets:
            continue
        newest = sets[-1]
        parts.append(
            note(f"{history.labels[host]}: {newest.id}, {date_words(newest.started)}, "
                 f"{newest.where.stack_words}.")
        )  # fmt: skip
        rows = [
            [
                cell(describe(c).title),
                cell(reached_words(c.comparison.level, c.comparison.horizon)
                     if c.comparison else c.reason),
                cell("holds" if c.holds else "fails"),
            ]
            for c in newest.checks
        ]  # fmt: skip
        classes = ["" if c.holds else "slower" for c in newest.checks]
        parts.append(table(["check", "reached", ""], rows, classes, "newest-checks"))
    return page("Numerics over time", parts, numerics=True)


def site_size_words(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
