"""Repro checks in words: what each check required, what it reached, and the figures behind it.

A check comes from a repro set's checks.json (see ``linreg.suites.repro.Check``); its comparison,
where it has one, carries the levels a–d of ``linreg.compare.runs``. The verdict panel, the
checks table and the matrix figure all read checks through this module, so they name a check
the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd

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


def describe(check: dict[str, Any], source: str = "") -> CheckText:
    comparison = check.get("comparison")
    required = _required(check)
    if comparison is None:
        # A checkpoint check, or a golden check whose reference could not be compared at all.
        reached, figures = check["reason"], ""
    elif check["kind"] == "resume" and not check["holds"]:
        # The piece of state the resumed process lacked comes first, then the finished run's.
        reached, figures = check["reason"], comparison_figures(comparison)
    else:
        reached, figures = reached_words(comparison), comparison_figures(comparison)
    return CheckText(
        holds=check["holds"],
        kind=check["kind"],
        pair=str(check.get("pair", check["kind"])),
        subject=check["subject"],
        against=_short_path(check["against"]),
        required=required,
        reached=reached,
        figures=figures,
        source=source,
        why=(check.get("explanation") or {}).get("line", ""),
    )


def _required(check: dict[str, Any]) -> str:
    if check["kind"] == "checkpoint":
        return "the same content hash after a reload"
    if check["kind"] == "resume":
        return "every piece of state restored, then bit-identical to the uninterrupted run"
    return REQUIRED_WORDS.get(str(check.get("required")), str(check.get("required")))


def _short_path(text: str) -> str:
    """A golden reference is named by its file; the folder is the same for every one."""
    return text.rsplit("/", 1)[-1] if text.endswith(".json") else text


def reached_words(comparison: dict[str, Any]) -> str:
    """The level a comparison reached, as a sentence fragment a reader needs no legend for."""
    level, horizon = comparison["level"], comparison.get("horizon")
    if level == "a":
        return "bit-identical"
    if level == "b":
        return "within tolerance over the whole run"
    agreed = f"within tolerance to epoch {horizon}, then " if horizon is not None else ""
    if level == "c":
        return agreed + "the same outcome" if agreed else "the same outcome"
    return agreed + "a different outcome" if agreed else "a different outcome"


def comparison_figures(comparison: dict[str, Any]) -> str:
    """The numbers behind the level, only those that mean something at that level."""
    level = comparison["level"]
    if level == "a":
        return ""
    quantities = comparison.get("quantities", {})
    parts = []
    first = comparison.get("first_bitwise_difference_epoch")
    horizon = comparison.get("horizon")
    if first is not None:
        parts.append(f"first difference at epoch {first}")
    if level == "b":
        rel = max(
            (q["max_rel"] for q in quantities.values() if _number(q.get("max_rel"))), default=None
        )
        if rel is not None:
            parts.append(f"largest relative difference {sig(rel, 2)}")
        # ULPs count representable steps between two values of one dtype: across dtypes, or
        # once two runs have parted into different limit cycles, the count measures nothing.
        if "dtype" not in comparison.get("config_diff", {}):
            ulp = max((q.get("max_ulp") or 0 for q in quantities.values()), default=0)
            parts.append(f"at most {ulp:,} ulp apart")
        return "; ".join(parts)
    if horizon is not None:
        before = comparison.get("max_rel_before_horizon")
        if first == horizon:
            parts[-1] = f"bit-identical until epoch {horizon}"
        elif _number(before):
            parts.append(f"relative difference ≤ {sig(before, 2)} before epoch {horizon}")
    train = quantities.get("train_loss", {})
    if _number(train.get("max_abs")) and train["max_abs"] > 0:
        parts.append(f"train loss apart by up to {sig(train['max_abs'], 2)}")
    parts.append(_final_weights(comparison))
    return "; ".join(p for p in parts if p)


def _final_weights(comparison: dict[str, Any]) -> str:
    candidate = comparison.get("final_candidate", {})
    reference = comparison.get("final_reference", {})
    bound = comparison.get("outcome_bound", {})
    if not (_number(candidate.get("weight")) and _number(reference.get("weight"))):
        return ""
    dw = abs(candidate["weight"] - reference["weight"])
    text = f"final weight {sig(candidate['weight'], 5)} vs {sig(reference['weight'], 5)}"
    if _number(bound.get("weight")):
        text += f" (|Δw| {sig(dw, 2)}, bound {sig(bound['weight'], 2)})"
    return text


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def sorted_checks(checks: list[tuple[str, dict[str, Any]]]) -> list[CheckText]:
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


def repro_pairs(checks: list[dict[str, Any]]) -> pd.DataFrame:
    """Determinism and consistency checks as pairs for the matrix figure; a determinism check is
    a config against itself, so it lands on the diagonal."""
    rows = []
    for check in checks:
        comparison = check.get("comparison")
        if check.get("kind") not in ("determinism", "consistency") or not comparison:
            continue
        quantities = comparison.get("quantities", {}).values()
        rel = [q["max_rel"] for q in quantities if _number(q.get("max_rel"))]
        before = comparison.get("max_rel_before_horizon")
        rows.append(
            {
                "a": comparison["candidate"],
                "b": comparison["candidate"]
                if check["kind"] == "determinism"
                else comparison["reference"],
                "check": check["kind"],
                "level": comparison["level"],
                "bitwise": comparison["level"] == "a",
                "max_rel_diff": max(rel, default=float("inf")),
                # Where two runs part, their difference afterwards measures nothing.
                "max_rel_before_horizon": before if _number(before) else None,
                "horizon": comparison.get("horizon"),
                "reached": reached_words(comparison),
                "holds": check["holds"],
            }
        )
    return pd.DataFrame(rows)
