"""Repro checks in words: what each check required, what it reached, and the figures behind it.

A check comes from a repro set's checks.json (``linreg.results.repro_checks.ReproCheck``); its
comparison, where it has one, carries the levels a–d (``linreg.results.run_comparison``). The
verdict panel, the checks table and the matrix figure all read checks through this module, so
they name a check the same way.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from linreg.results.repro_checks import ReproCheck
from linreg.results.run_comparison import Comparison
from linreg.units import sig

KIND_ORDER = ("determinism", "consistency", "golden", "checkpoint", "resume")

REQUIRED_WORDS = {
    "a": "bit-identical",
    "b": "within tolerance over the whole run",
    "b-horizon": "within tolerance as long as its one-thread twin, then the same outcome",
    "c": "the same outcome",
    "d": "anything",
}


@dataclass(frozen=True)
class CheckText:
    """One check as the report words it."""

    holds: bool
    kind: str
    pair: str
    subject: str
    against: str
    required: str
    reached: str
    figures: str
    source: str
    why: str = ""  # where the pair parts, replayed (linreg.compare.first_difference)

    @property
    def title(self) -> str:
        """'golden: cpu float32 seed 42 threads 1 eager vs cpu-float32-…json'."""
        kind = self.kind if self.kind == self.pair else f"{self.kind} ({self.pair})"
        return f"{kind}: {self.subject} vs {self.against}"


def describe(check: ReproCheck, source: str = "") -> CheckText:
    comparison = check.comparison
    if comparison is None:
        # A checkpoint check, or a golden check whose reference could not be compared at all.
        reached, figures = check.reason, ""
    elif check.kind == "resume" and not check.holds:
        # The piece of state the resumed process lacked comes first, then the finished run's.
        reached, figures = check.reason, comparison_figures(comparison)
    else:
        reached, figures = (
            reached_words(comparison.level, comparison.horizon),
            comparison_figures(comparison),
        )
    return CheckText(
        holds=check.holds,
        kind=check.kind,
        pair=check.pair,
        subject=check.subject,
        against=_short_path(check.against),
        required=_required(check),
        reached=reached,
        figures=figures,
        source=source,
        why=check.explanation.line if check.explanation else "",
    )


def _required(check: ReproCheck) -> str:
    if check.kind == "checkpoint":
        return "the same content hash after a reload"
    if check.kind == "resume":
        return "every piece of state restored, then bit-identical to the uninterrupted run"
    return REQUIRED_WORDS.get(check.required, check.required)


def _short_path(text: str) -> str:
    """A golden reference is named by its file; the folder is the same for every one."""
    return text.rsplit("/", 1)[-1] if text.endswith(".json") else text


def reached_words(level: str, horizon: int | None) -> str:
    """The level a comparison reached, as a sentence fragment a reader needs no legend for."""
    if level == "a":
        return "bit-identical"
    if level == "b":
        return "within tolerance over the whole run"
    agreed = f"within tolerance to epoch {horizon}, then " if horizon is not None else ""
    if level == "c":
        return agreed + "the same outcome" if agreed else "the same outcome"
    return agreed + "a different outcome" if agreed else "a different outcome"


def comparison_figures(comparison: Comparison) -> str:
    """The numbers behind the level, only those that mean something at that level."""
    level = comparison.level
    if level == "a":
        return ""
    quantities = comparison.quantities
    parts = []
    first = comparison.divergence.bitwise
    horizon = comparison.horizon
    if first is not None:
        parts.append(f"first difference at epoch {first}")
    if level == "b":
        rel = max((q.max_rel for q in quantities.values() if math.isfinite(q.max_rel)),
                  default=None)  # fmt: skip
        if rel is not None:
            parts.append(f"largest relative difference {sig(rel, 2)}")
        # ULPs count representable steps between two values of one dtype: across dtypes, or
        # once two runs have parted into different limit cycles, the count measures nothing.
        if "dtype" not in comparison.config_diff:
            ulp = max((q.max_ulp for q in quantities.values()), default=0)
            parts.append(f"at most {ulp:,} ulp apart")
        return "; ".join(parts)
    if horizon is not None:
        before = comparison.max_rel_before_horizon
        if first == horizon:
            parts[-1] = f"bit-identical until epoch {horizon}"
        elif math.isfinite(before):
            parts.append(f"relative difference ≤ {sig(before, 2)} before epoch {horizon}")
    train = quantities.get("train_loss")
    if train is not None and train.max_abs > 0:
        parts.append(f"train loss apart by up to {sig(train.max_abs, 2)}")
    parts.append(_final_weights(comparison))
    return "; ".join(p for p in parts if p)


def _final_weights(comparison: Comparison) -> str:
    candidate = comparison.final_candidate.get("weight")
    reference = comparison.final_reference.get("weight")
    if candidate is None or reference is None or math.isnan(candidate + reference):
        return ""
    dw = abs(candidate - reference)
    text = f"final weight {sig(candidate, 5)} vs {sig(reference, 5)}"
    if math.isfinite(comparison.bound.weight):
        text += f" (|Δw| {sig(dw, 2)}, bound {sig(comparison.bound.weight, 2)})"
    return text


def sorted_checks(checks: Sequence[tuple[str, ReproCheck]]) -> list[CheckText]:
    """Every check, failing first, then by kind (determinism … checkpoint) and run."""
    texts = [describe(check, source) for source, check in checks]
    return sorted(texts, key=lambda t: (t.holds, _kind_rank(t.kind), t.subject, t.against))


def _kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def counts_by_kind(texts: list[CheckText]) -> list[tuple[str, int, int]]:
    """(kind, checks that hold, checks) in the order of KIND_ORDER."""
    total = Counter(t.kind for t in texts)
    holding = Counter(t.kind for t in texts if t.holds)
    kinds = sorted(total, key=_kind_rank)
    return [(kind, holding[kind], total[kind]) for kind in kinds]


def checks_frame(texts: list[CheckText]) -> pd.DataFrame:
    """The table of every check, in the order given (failing first)."""
    several_sets = len({t.source for t in texts}) > 1
    rows = [
        {
            "result": "holds" if t.holds else "FAILS",
            "check": t.kind if t.kind == t.pair else f"{t.kind} ({t.pair})",
            "run": t.subject,
            "against": t.against,
            "required": t.required,
            "reached": t.reached,
            "figures": t.figures,
            "where it parts": t.why,
            **({"repro set": t.source} if several_sets else {}),
        }
        for t in texts
    ]
    return pd.DataFrame(rows)


def repro_pairs(checks: Iterable[ReproCheck]) -> pd.DataFrame:
    """Determinism and consistency checks as pairs for the matrix figure; a determinism check is
    a config against itself, so it lands on the diagonal."""
    rows = []
    for check in checks:
        comparison = check.comparison
        if check.kind not in ("determinism", "consistency") or comparison is None:
            continue
        rel = [q.max_rel for q in comparison.quantities.values() if math.isfinite(q.max_rel)]
        before = comparison.max_rel_before_horizon
        rows.append(
            {
                "a": comparison.candidate_label,
                "b": comparison.candidate_label
                if check.kind == "determinism"
                else comparison.reference_label,
                "check": check.kind,
                "level": comparison.level,
                "bitwise": comparison.level == "a",
                "max_rel_diff": max(rel, default=float("inf")),
                # Where two runs part, their difference afterwards measures nothing.
                "max_rel_before_horizon": before if math.isfinite(before) else None,
                "horizon": comparison.horizon,
                "reached": reached_words(comparison.level, comparison.horizon),
                "holds": check.holds,
            }
        )
    return pd.DataFrame(rows)
