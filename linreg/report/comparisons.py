"""Which series the report compares with which, and which it draws: the same choice for the
panel, the figures and the tables, however many sessions the inputs hold.

- A speed verdict's two sides, where both are in the inputs (an A/B): candidate ÷ reference.
- Against the baseline: each measured session of a machine ÷ that machine's newest committed
  baseline (the one `linreg run` and `linreg compare` judge against; older ones are not used).
- Between machines: each machine's newest measured session (else its newest baseline) ÷ the
  first machine's (the A/B's machine, else the first with a baseline, else the first by name).
- Within a machine without a baseline: each session ÷ the one before it, so a step shows where
  it happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import pandas as pd

JUDGED, BASELINE, MACHINES, PREVIOUS, DEVICE = (
    "judged",
    "against the baseline",
    "between machines",
    "against the session before",
    "device against cpu",
)
# The series the figures draw: beyond this many, one dot per series per case is unreadable;
# every series stays in the tables.
MAX_DRAWN = 8
# The measured series the panel's table shows, newest of each machine.
MAX_PANEL = 4


@dataclass(frozen=True)
class Comparison:
    reference: str
    candidate: str
    relation: str  # JUDGED, BASELINE, MACHINES or PREVIOUS

    @property
    def name(self) -> str:
        return f"{self.candidate} ÷ {self.reference}"


@dataclass(frozen=True)
class _Series:
    name: str
    machine: str
    baseline: bool
    started: str
    session: str


@dataclass
class Plan:
    """Every series in reading order, the comparisons between them, and the few drawn."""

    order: list[str] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    drawn: list[str] = field(default_factory=list)
    panel: list[str] = field(default_factory=list)  # measured series the panel names
    machines: list[str] = field(default_factory=list)  # the reference machine first
    newest_baselines: dict[str, str] = field(default_factory=dict)  # machine -> series


def _series(bench: pd.DataFrame) -> list[_Series]:
    first = bench.drop_duplicates("series")
    return [
        _Series(str(r.series), str(r.machine), bool(r.baseline), str(r.started), str(r.session))
        for r in first.itertuples(index=False)
    ]


def comparison_plan(bench: pd.DataFrame, judged: Sequence[tuple[str, str]] = ()) -> Plan:
    """The plan for ``bench``'s series; ``judged`` holds (reference, candidate) session labels
    of speed verdicts in the inputs, whose sides are compared first."""
    if bench.empty:
        return Plan()
    series = _series(bench)
    by_session = {s.session: s for s in series}
    pairs = [
        (by_session[r], by_session[c]) for r, c in judged if r in by_session and c in by_session
    ]
    machines = sorted({s.machine for s in series})
    with_baseline = [m for m in machines if any(s.baseline and s.machine == m for s in series)]
    first = pairs[0][0].machine if pairs else (with_baseline or machines)[0]
    machines = [first, *(m for m in machines if m != first)]

    def newest_first(items: list[_Series]) -> list[_Series]:
        return sorted(items, key=lambda s: (s.started, s.name), reverse=True)

    baselines = {m: newest_first([s for s in series if s.baseline and s.machine == m])
                 for m in machines}  # fmt: skip
    measured = {m: newest_first([s for s in series if not s.baseline and s.machine == m])
                for m in machines}  # fmt: skip
    judged_reference = {p[0].machine: p[0] for p in reversed(pairs)}
    representative = {
        m: judged_reference.get(m) or (measured[m] or baselines[m])[0] for m in machines
    }

    comparisons: list[Comparison] = []
    seen: set[frozenset[str]] = set()

    def add(reference: _Series, candidate: _Series, relation: str) -> None:
        pair = frozenset((reference.name, candidate.name))
        if reference.name != candidate.name and pair not in seen:
            seen.add(pair)
            comparisons.append(Comparison(reference.name, candidate.name, relation))

    for reference, candidate in pairs:
        add(reference, candidate, JUDGED)
    for m in machines:
        if baselines[m]:
            for run in measured[m]:
                add(baselines[m][0], run, BASELINE)
    for m in machines[1:]:
        add(representative[machines[0]], representative[m], MACHINES)
    for m in machines:
        if not baselines[m]:
            runs = list(reversed(measured[m]))  # oldest first
            for before, run in pairwise(runs):
                add(before, run, PREVIOUS)

    sides = [s for pair in pairs for s in pair]
    order = _unique(
        [s.name for s in sides]
        + [s.name for m in machines for s in [*baselines[m][:1], *measured[m], *baselines[m][1:]]]
    )
    leading = _unique(
        [s.name for s in sides]
        + [representative[m].name for m in machines]
        + [baselines[m][0].name for m in machines if baselines[m]]
    )
    # Then each machine's next newest in turn, so that no machine's history crowds out another.
    by_machine = [[s.name for s in [*measured[m], *baselines[m]]] for m in machines]
    turns = [names[i] for i in range(len(series)) for names in by_machine if i < len(names)]
    drawn = order if len(order) <= MAX_DRAWN else _unique(leading + turns)[:MAX_DRAWN]
    if pairs:
        panel = _unique([s.name for s in sides])
    else:
        panel = [representative[m].name for m in machines if not representative[m].baseline]
        panel = panel or [baselines[m][0].name for m in machines if baselines[m]]
    return Plan(
        order=order,
        comparisons=comparisons,
        drawn=[s for s in order if s in drawn],
        panel=panel[:MAX_PANEL],
        machines=machines,
        newest_baselines={m: baselines[m][0].name for m in machines if baselines[m]},
    )


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))
