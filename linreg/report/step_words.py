"""A step over time in words: what it earned (as a speed verdict words a case, its samples
counted in sessions), what would decide it, and what changed across it. The history site's
index and `linreg compare --all` say a step alike."""

from __future__ import annotations

import math

from linreg.results.history_series import (
    NOISE,
    REGRESSION,
    SPEED_UP,
    UNDECIDED_STEP,
    Regression,
    StepChange,
)
from linreg.results.speed_verdict import DEFAULT_CONFIDENCE, INSTRUCTIONS, CaseVerdict
from linreg.units import percent, sig

KIND_WORDS = {
    REGRESSION: "slower",
    SPEED_UP: "faster",
    UNDECIDED_STEP: "undecided",
    NOISE: "noise",
}


def _short(commit: str | None) -> str:
    return (commit or "?")[:8]


def change_words(change: StepChange | None) -> str:
    """'commit 0000001e..0000001f', 'stack A → B', 'host A → B', joined; 'same commit, same
    stack, same host' where nothing changed; 'commit not recorded' where a side lacks one."""
    if change is None:
        return ""
    said = []
    if change.commit:
        before, after = (_short(c) for c in change.boundary)
        said.append(f"commit {before}..{after}" if before != after else f"commit {after}")
    if change.stack:
        said.append(f"stack {change.stacks[0]} → {change.stacks[1]}")
    if change.host:
        said.append(f"host {change.hosts[0]} → {change.hosts[1]}")
    if not change.commit_known:
        said.append("a commit not recorded")
    if said:
        return "; ".join(said)
    return f"same commit ({_short(change.boundary[1])}), same stack, same host"


def evidence_words(verdict: CaseVerdict | None) -> str:
    """'37 vs 3 sessions, ×1.30 [1.27, 1.33] at 99 %' (wall); '36 vs 4 sessions, ×1.10' (counts)."""
    if verdict is None:
        return ""
    n, m = verdict.samples
    parts = [f"{n} vs {m} sessions"]
    if math.isfinite(verdict.ratio):
        figure = f"×{sig(verdict.ratio, 3)}"
        if verdict.ci is not None:
            level = verdict.confidence or DEFAULT_CONFIDENCE
            figure += f" [{sig(verdict.ci[0], 3)}, {sig(verdict.ci[1], 3)}] at {percent(level)}"
        parts.append(figure)
    return ", ".join(parts)


def decide_words(verdict: CaseVerdict | None) -> str:
    """Why a step is undecided and what would decide it, in sessions."""
    if verdict is None:
        return ""
    from linreg.compare.shift import smallest_p  # numpy: only where a history is read

    n, m = verdict.samples
    level = verdict.confidence or DEFAULT_CONFIDENCE
    if verdict.metric == INSTRUCTIONS:
        floor = percent(verdict.noise_floor or 0.0)
        why = f"the count moved within twice the spread of the sessions before it ({floor})"
    elif smallest_p(n, m) > 1 - level:
        why = f"{n} vs {m} sessions cannot reach {percent(level)} confidence"
    elif verdict.ci is not None:
        low, high = verdict.ci
        why = (
            f"{n} vs {m} sessions: the interval {sig(low, 3)}–{sig(high, 3)} spans "
            f"±{percent(verdict.threshold)}"
        )
    else:
        why = f"{n} vs {m} sessions"
    needed = verdict.processes_needed
    if needed:
        more = f", {needed - m} more at the new level" if needed > m else ""
        why += f"; about {needed} sessions a side would decide{more}"
    return why


def outcome_words(found: Regression) -> str:
    """What the step earned, in one clause: the kind, its evidence, and for an undecided step
    what would decide it; noise says why it is noise."""
    kind, verdict = found.kind, found.verdict
    if kind == NOISE:
        if found.change is not None and found.change.nothing:
            return "noise: the same code on the same stack and host on both sides (the machine)"
        threshold = percent(verdict.threshold) if verdict is not None else ""
        return f"noise: no change beyond {threshold} ({evidence_words(verdict)})"
    if kind == UNDECIDED_STEP:
        return f"undecided: {decide_words(verdict)}"
    earned = evidence_words(verdict)
    return f"{KIND_WORDS[kind]}, earned: {earned}" if earned else KIND_WORDS[kind]
