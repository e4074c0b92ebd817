"""The one step runner of linreg's jobs (`linreg run`, `linreg gpu-run`): steps in order, each
ending as a ``JobStep`` record; a step that fails is a finding, not the end, and the steps after
it still run.

With a budget (gpu-run, on a machine lent for minutes), each step has one: a step whose budget
exceeds the time left is skipped with a message, and a step marked ``always`` (the archive)
has its budget held back from every step before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linreg.errors import LinregError
from linreg.results.job_steps import FAILED, SKIPPED, JobStep


@dataclass(frozen=True)
class Outcome:
    """A step's own report, before the runner adds its name, budget and time."""

    status: str
    detail: str
    cuda_skipped: str | None = None


@dataclass(frozen=True)
class JobResult:
    """A job's folder, its steps in order, and its report where one was built."""

    out: Path
    steps: tuple[JobStep, ...]
    report: Path | None = None

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


@dataclass(frozen=True)
class Step:
    name: str
    description: str
    budget_seconds: float | None  # None: no budget (the job has none)
    # Called with the seconds its child processes may take (its budget), None without one.
    run: Callable[[float | None], Outcome]
    always: bool = False  # its budget is held back from every step before it


# Before each step: (index, steps, the step, seconds left of the budget or None).
StepCallback = Callable[[int, int, Step, float | None], None]
DoneCallback = Callable[[JobStep], None]


def run_steps(
    steps: list[Step],
    budget_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    on_step: StepCallback | None = None,
    on_done: DoneCallback | None = None,
) -> list[JobStep]:
    """Run each step (each that fits in what is left of ``budget_seconds``, where one is
    given; the others are skipped, saying why)."""
    deadline = None if budget_seconds is None else clock() + budget_seconds
    results = []
    for index, step in enumerate(steps):
        left = None
        if deadline is not None:
            held_back = sum(s.budget_seconds or 0.0 for s in steps[index + 1 :] if s.always)
            left = deadline - clock() - held_back
        if on_step is not None:
            on_step(index, len(steps), step, left)
        started = clock()
        budget = step.budget_seconds
        if left is not None and budget is not None and budget > left and not step.always:
            outcome = Outcome(
                SKIPPED,
                f"time is short: it needs {budget:.0f} s, {max(left, 0):.0f} s of the "
                f"{budget_seconds:.0f} s budget are left",
            )
        else:
            try:
                outcome = step.run(budget)
            except LinregError as exc:
                outcome = Outcome(FAILED, str(exc))
        result = JobStep(step.name, outcome.status, outcome.detail, step.description, budget,
                         clock() - started, outcome.cuda_skipped)  # fmt: skip
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results


def first_failure(failures: Sequence[Any]) -> str:
    """ "; first failure: KIND SUBJECT: REASON" of a list of failed checks, or nothing."""
    if not failures:
        return ""
    first = failures[0]
    return f"; first failure: {first.kind} {first.subject}: {first.reason}"
