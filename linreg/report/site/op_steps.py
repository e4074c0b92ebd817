"""A case page's "Ops a step": where the case's ops a step changed between two sessions of one
stack, each with the changed ops and the line that made each."""

from __future__ import annotations

from linreg.report.op_words import MAX_OPS, op_lines, ops_headline
from linreg.report.site.figures import date_words
from linreg.report.site.pages import cell, note, table
from linreg.results.history import History
from linreg.results.op_changes import OpStep

# Rows on a case page: the newest, where a long history changed its ops often.
MAX_STEPS = 20


def ops_part(history: History, steps: list[OpStep]) -> list[str]:
    """The section's HTML: a table of the newest steps, or a line saying there were none."""
    parts = ["<h2>Ops a step</h2>"]
    if not steps:
        parts.append(note("The ops a step did not change between any two sessions of one stack "
                          "that counted them (or no session counted them)."))  # fmt: skip
        return parts
    parts.append(
        note(
            "Where the ops a step changed between two consecutive sessions of one stack that "
            "counted them (op counts are exact: any op made more or less often is a change), "
            f"newest first, {MAX_STEPS} at most; each op with the line that made its change "
            "(ops made as often from other lines are left out)."
        )
    )
    rows, classes = [], []
    for step in sorted(steps, key=lambda s: s.after, reverse=True)[:MAX_STEPS]:
        before, after = history.sessions[step.before], history.sessions[step.after]
        commits = [(s.where.commit or "?")[:8] for s in (before, after)]
        rows.append(
            [
                cell(step.stack),
                cell(f"{date_words(before.started)} → {date_words(after.started)}"),
                cell(after.id),
                cell(commits[1] if commits[0] == commits[1] else f"{commits[0]}..{commits[1]}"),
                cell(ops_headline(step.ops)),
                # Ops that only moved are left out: an edit above them moves them all.
                cell("; ".join(op_lines(step.ops, MAX_OPS, moved=False))),
            ]
        )
        classes.append("slower" if step.ops.added and not step.ops.removed else "")
    columns = ["stack", "sessions", "session", "commits", "ops a step", "changed ops"]
    parts.append(table(columns, rows, classes, "ops"))
    return parts
