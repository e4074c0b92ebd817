"""The regression section's op lists: under each case whose ops a step changed (or whose count
moved with the same ops), the changed ops with the line that made each, before "where the
instructions went"."""

from __future__ import annotations

import pandas as pd

from linreg.report.op_words import (
    MAX_OPS,
    change_word,
    ops_headline,
    per_step,
    shows_ops,
    signed_per_step,
    site_words,
)
from linreg.report.tables import Table
from linreg.results.bench_file import short_labels
from linreg.results.op_changes import MOVED
from linreg.results.speed_verdict import SpeedVerdict


def op_tables(verdict: SpeedVerdict) -> list[tuple[str, Table]]:
    """One table per case whose ops are worth a list, titled with the finding."""
    cases = [c for c in verdict.cases if shows_ops(c)]
    labels, _ = short_labels(sorted({c.case for c in cases}))
    tables = []
    for case in cases:
        ops = case.ops
        assert ops is not None
        title = f"Which ops a step changed: {labels[case.case]}, {case.metric} {case.outcome}"
        caption = f"{title} ({ops_headline(ops)})"
        name = f"ops-{len(tables)}"
        ordered = [d for d in ops.changes if d.change != MOVED] + list(ops.moved)
        if not ordered:
            tables.append((caption, Table(pd.DataFrame([{"ops": ops_headline(ops)}]), name=name)))
            continue
        rows = []
        for delta in ordered[:MAX_OPS]:
            sites = [s for s in delta.sites if (s.delta > 0) == (delta.delta >= 0) and s.delta]
            rows.append(
                {
                    "op": delta.op,
                    "a step": f"{per_step(delta.reference_per_step)} → "
                    f"{per_step(delta.candidate_per_step)}",
                    "change": change_word(delta)
                    if delta.change == MOVED
                    else signed_per_step(delta.delta),
                    "from": site_words(sites[0]) if sites else "",
                    "code": sites[0].code if sites else "",
                }
            )
        if len(ordered) > MAX_OPS:
            rows.append({"op": f"… and {len(ordered) - MAX_OPS} more ops"})
        tables.append((caption, Table(pd.DataFrame(rows), name=name)))
    return tables
