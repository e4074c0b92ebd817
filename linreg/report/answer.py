"""The verdict panel's values: three answers, each a headline, a status and its lines."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

PASS, FAIL, NONE, INFO = "pass", "fail", "none", "info"
# Failing checks and judged cases named in the panel, so that all three answers fit the first
# screen; the rest are in the tables below.
MAX_CHECKS, MAX_CASES = 5, 4


@dataclass(frozen=True)
class Line:
    text: str
    status: str = ""
    detail: str = ""
    link: str = ""  # a section below holding the rest


@dataclass(frozen=True)
class Answer:
    question: str
    status: str  # pass, fail, none (not answered: nothing to answer from), info
    headline: str
    lines: tuple[Line, ...] = ()
    table: pd.DataFrame | None = None
    link: str = ""  # the section holding the full evidence


@dataclass(frozen=True)
class Verdicts:
    reproduces: Answer
    speed: Answer
    regressed: Answer

    @property
    def answers(self) -> tuple[Answer, Answer, Answer]:
        return (self.reproduces, self.speed, self.regressed)

    @property
    def ok(self) -> bool:
        """False when any answer is a failure: what the job's exit status should say."""
        return all(a.status != FAIL for a in self.answers)
