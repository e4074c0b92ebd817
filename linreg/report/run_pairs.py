"""The runs a report is given, compared: two run folders (or any two sources of runs, without a
repro set between them) are paired as `linreg compare` pairs them, judged by the one pair rule
(``linreg.compare.pair_rule``), and where they part is replayed as compare replays it. The panel's
"Reproduces?" then answers the comparison it was given rather than "not checked"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from linreg.compare.pair_rule import PairJudgement
from linreg.compare.sets import judge_run_pairs, match_runs
from linreg.report.answer import FAIL, MAX_CHECKS, PASS, Answer, Line
from linreg.report.checks import REQUIRED_WORDS, comparison_figures, reached_words
from linreg.report.pair_words import PAIR_WORDS, twin_missing_words
from linreg.results import kinds
from linreg.results.load import LoadedResult
from linreg.results.resultset import newest_runs
from linreg.tolerance import load_tolerances
from linreg.units import NOTHING


@dataclass(frozen=True)
class RunPair:
    """One pair of the given runs: its judgement, and where the two part (replayed)."""

    judgement: PairJudgement
    reference: str  # the source that holds the reference run (its file or folder name)
    candidate: str
    why: str = ""

    @property
    def holds(self) -> bool:
        return self.judgement.holds


def given_run_pairs(
    sources: Sequence[tuple[str, Sequence[LoadedResult]]], replay: bool = True
) -> list[RunPair]:
    """The runs of exactly two sources, the first the reference, paired and judged; none where
    fewer or more than two sources hold runs. Tolerances as `linreg compare` reads them (this
    folder's pyproject.toml, else the defaults)."""
    holding = []
    for source, loaded in sources:
        runs = [(r.path, r.value) for r in loaded if r.kind in kinds.RUN_KINDS]
        if runs:
            holding.append((source, newest_runs(runs)))
    if len(holding) != 2:
        return []
    (ref_source, reference), (cand_source, candidate) = holding
    pairs, _ = match_runs(reference, candidate)
    if not pairs:
        return []
    try:
        judged = judge_run_pairs(pairs, load_tolerances())
    except ValueError:
        return []  # runs of other lengths: nothing epoch by epoch to compare
    whys = _where_they_part(pairs, judged) if replay else [""] * len(judged)
    names = (Path(ref_source).name, Path(cand_source).name)
    return [RunPair(j, *names, why) for j, why in zip(judged, whys, strict=True)]


def _where_they_part(pairs, judged: list[PairJudgement]) -> list[str]:
    from linreg.suites.replay import explain_pairs  # replays in a worker process

    found = explain_pairs(
        [(cand, ref, j.comparison) for ((_, ref), (_, cand)), j in zip(pairs, judged, strict=True)]
    )
    return [f.line if f is not None else "" for f in found]


def run_pairs_answer(pairs: Sequence[RunPair]) -> Answer:
    """The panel's "Reproduces?" of the runs given: each pair, what its kind needs, what it
    reached."""
    question = "Reproduces?"
    failing = [p for p in pairs if not p.holds]
    lines = [_line(p) for p in sorted(pairs, key=lambda p: p.holds)[:MAX_CHECKS]]
    if len(pairs) > MAX_CHECKS:
        lines.append(
            Line(f"… and {len(pairs) - MAX_CHECKS} more pairs below", link="runs-compared")
        )
    if len(pairs) == 1:
        (pair,) = pairs
        j = pair.judgement
        verb = "reaches what" if pair.holds else "falls short of what"
        headline = (
            f"{'Yes' if pair.holds else 'No'}: {pair.candidate} against {pair.reference} {verb} "
            f"{PAIR_WORDS[j.kind]} needs ({REQUIRED_WORDS[j.requirement]}): "
            f"{reached_words(j.comparison.level, j.comparison.horizon)}"
        )
    elif failing:
        headline = f"No: {len(failing)} of {len(pairs)} pairs of the runs given fall short"
    else:
        headline = f"Yes: all {len(pairs)} pairs of the runs given reach what they need"
    return Answer(question, FAIL if failing else PASS, headline, tuple(lines),
                  link="runs-compared")  # fmt: skip


def _line(pair: RunPair) -> Line:
    j = pair.judgement
    c = j.comparison
    detail = [f"{PAIR_WORDS[j.kind]}: needs {REQUIRED_WORDS[j.requirement]}"]
    figures = comparison_figures(c)
    if figures:
        detail.append(figures)
    if pair.why:
        detail.append(f"where they part: {pair.why}")
    if j.twin_missing:
        detail.append(twin_missing_words(j.requirement))
    mark = "" if pair.holds else "✗ "
    text = f"{mark}{c.candidate_label} against {c.reference_label}: "
    text += reached_words(c.level, c.horizon)
    return Line(text, "" if pair.holds else FAIL, "; ".join(detail))


def run_pairs_frame(pairs: Sequence[RunPair]) -> pd.DataFrame:
    """Every pair of the given runs, failing first: the table below the panel."""
    rows = []
    for p in sorted(pairs, key=lambda p: p.holds):
        j, c = p.judgement, p.judgement.comparison
        rows.append(
            {
                "candidate": f"{p.candidate}: {c.candidate_label}",
                "reference": f"{p.reference}: {c.reference_label}",
                "pair": PAIR_WORDS[j.kind],
                "needs": REQUIRED_WORDS[j.requirement],
                "reached": reached_words(c.level, c.horizon),
                "holds": "yes" if p.holds else "no",
                "figures": comparison_figures(c) or NOTHING,
                "where they part": p.why or NOTHING,
            }
        )
    return pd.DataFrame(rows)
