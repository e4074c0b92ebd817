"""The regression section's "where the instructions went": under each instruction case that is
slower or faster, the functions its speed verdict carries (``CaseVerdict.functions``), as a
small table."""

from __future__ import annotations

import pandas as pd

from linreg.report.function_names import short_functions
from linreg.report.tables import Table
from linreg.results.bench_file import short_labels
from linreg.results.speed_verdict import FASTER, INSTRUCTIONS, SLOWER, SpeedVerdict
from linreg.units import share, signed_count

# Names shortened as the terminal shortens them; the report's column can be a little wider.
NAME_WIDTH = 72


def function_tables(verdict: SpeedVerdict) -> list[tuple[str, Table]]:
    """One table per instruction case that moved and carries a list (titled with its note)."""
    cases = [c for c in verdict.cases if c.metric == INSTRUCTIONS and c.outcome in (SLOWER, FASTER)]
    labels, _ = short_labels(sorted({c.case for c in cases}))
    tables = []
    for case in cases:
        title = f"Where the instructions went: {labels[case.case]}, {case.outcome}"
        note = case.functions_note
        name = f"functions-{len(tables)}"
        if not case.functions:
            if note:  # why there is no list: no profile on a side, or nothing beyond noise
                tables.append((title, Table(pd.DataFrame([{"functions": note}]), name=name)))
            continue
        # Shortened together, as the terminal shortens them: two functions never read alike.
        names = short_functions([f.function for f in case.functions], NAME_WIDTH)
        rows = [
            {
                "function": names[f.function],
                "counted": f.kind,
                "Δ a call": signed_count(f.delta),
                "share of the change": share(f.share),
            }
            for f in case.functions
        ]
        caption = f"{title} ({note})" if note else title
        tables.append((caption, Table(pd.DataFrame(rows), name=name)))
    return tables
