"""A case's op counts over time: the sessions where the ops a step changed.

Op counts are exact, so no change-point model is needed: any op a step makes more or less
often between two consecutive sessions of one stack (torch build, Python, CPU capability:
``linreg.stack``) that counted the case's ops is a step. Ops that only moved to other lines are
not: an edit elsewhere in a file moves every line below it.
"""

from __future__ import annotations

import itertools

from linreg.compare.speed import case_ops
from linreg.results.history import History
from linreg.results.op_changes import OpStep


def op_steps(history: History, case: str) -> list[OpStep]:
    """Each change of the case's ops a step between consecutive sessions of a stack, oldest
    first."""
    by_stack: dict[str, list[int]] = {}
    for index, session in enumerate(history.sessions):
        samples = session.cases.get(case)
        if samples is not None and samples.ops:
            by_stack.setdefault(session.where.stack, []).append(index)
    steps = []
    for stack, indices in by_stack.items():
        for before, after in itertools.pairwise(indices):
            ops = case_ops(
                history.sessions[before].cases[case], history.sessions[after].cases[case]
            )
            if ops is not None and not ops.same:
                steps.append(OpStep(case, stack, before, after, ops))
    return sorted(steps, key=lambda s: (s.after, s.stack))
