"""A case's op counts in words, as the terminal (`compare`, `explain`, `ab`, `bisect`), the
report's regression section and the history site say them alike: "+2 aten::exp a step, from
sitecustomize.py:12 _planted_step"."""

from __future__ import annotations

from linreg.results.op_changes import FEWER, GONE, MORE, MOVED, NEW, OpDelta, OpEvidence, SiteDelta
from linreg.results.speed_verdict import FASTER, SLOWER, CaseVerdict
from linreg.units import MINUS, signed_count

# Lines of an op list shown before "… and N more": the report and the site keep it short.
MAX_OPS = 12


def shows_ops(case: CaseVerdict) -> bool:
    """A case's ops are worth a list where they changed, or where its verdict moved (then
    "the same ops" is the finding): two unchanged runs list nothing."""
    ops = case.ops
    return ops is not None and (not ops.same or case.outcome in (SLOWER, FASTER))


def per_step(value: float) -> str:
    """Calls a step: whole where whole (2), else four significant digits (0.02, 21.12)."""
    return f"{value:.0f}" if value == round(value) else f"{value:.4g}"


def signed_per_step(value: float) -> str:
    text = per_step(abs(value))
    return f"+{text}" if value > 0 else f"{MINUS}{text}" if value < 0 else text


def site_words(site: SiteDelta) -> str:
    """``file:line function``, and whether the op is a compiled graph's node."""
    if not site.file:
        where = "no Python line (torch's own)"
    else:
        where = f"{site.file}:{site.line} {site.function}".rstrip()
    return f"{where} (compiled graph)" if site.graph else where


def op_line(delta: OpDelta) -> str:
    """One op in one line: "+2 aten::exp a step, from sitecustomize.py:12 _planted_step";
    an op only made elsewhere: "aten::add_ moved: 2 a step from sitecustomize.py:9 _planted_step,
    before from linreg/engines/eager.py:48 _loop"."""
    sites = delta.sites
    if delta.change == MOVED:
        now = [s for s in sites if s.delta > 0]
        before = [s for s in sites if s.delta < 0]
        text = f"{delta.op} moved: {per_step(delta.candidate_per_step)} a step"
        if now:
            text += f" from {site_words(now[0])}{_more(now)}"
        if before:
            text += f", before from {site_words(before[0])}{_more(before)}"
        return text
    toward = [s for s in sites if (s.delta > 0) == (delta.delta > 0) and s.delta != 0]
    word = "gone from" if delta.change == GONE else "from"
    text = f"{signed_per_step(delta.delta)} {delta.op} a step"
    if toward:
        text += f", {word} {site_words(toward[0])}{_more(toward)}"
    return text


def _more(sites: list[SiteDelta]) -> str:
    return f" (and {len(sites) - 1} more lines)" if len(sites) > 1 else ""


def ops_headline(ops: OpEvidence) -> str:
    """The op counts' finding in one clause: which ops a step makes more or less often, or
    that they are the same (and, where the instructions moved, the op they moved inside)."""
    if ops.same:
        said = f"the same ops a step ({per_step(ops.reference_per_step)})"
        if ops.moved_inside:
            inside = ops.moved_inside_per_call
            size = "" if inside is None else f" ({signed_count(inside)} instructions a call)"
            said = f"same ops; the instructions moved inside {ops.moved_inside}{size}"
        if ops.moved:
            said += f"; {len(ops.moved)} moved to other lines"
    else:
        changed = [*ops.added, *ops.removed]
        listed = ", ".join(f"{signed_per_step(d.delta)} {d.op}" for d in changed[:4])
        more = f", {len(changed) - 4} more" if len(changed) > 4 else ""
        said = (
            f"{signed_per_step(ops.candidate_per_step - ops.reference_per_step)} ops a step "
            f"({per_step(ops.reference_per_step)} → {per_step(ops.candidate_per_step)}): "
            f"{listed}{more}"
        )
    if ops.stack_differences:
        said += (
            f" (counted with another {', '.join(ops.stack_differences)} on each side: "
            "information, not a verdict)"
        )
    return said


def op_lines(ops: OpEvidence, limit: int | None = None, moved: bool = True) -> list[str]:
    """Each changed op in one line, added and removed first, then (``moved``) those made as
    often from other lines; ``limit`` lines at most, the rest counted in the last."""
    ordered = [d for d in ops.changes if d.change != MOVED] + (list(ops.moved) if moved else [])
    shown = ordered if limit is None else ordered[:limit]
    lines = [op_line(d) for d in shown]
    if len(ordered) > len(shown):
        lines.append(f"… and {len(ordered) - len(shown)} more ops")
    return lines


def change_word(delta: OpDelta) -> str:
    """new, more, fewer, gone or moved, as a column says it."""
    return {NEW: "new", MORE: "more", FEWER: "fewer", GONE: "gone", MOVED: "moved"}[delta.change]
