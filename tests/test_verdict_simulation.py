"""The wall-time rule judged against known truth: thousands of simulated comparisons.

No benchmark runs: per-process medians are drawn from the noise a shared machine gives (log-
normal, heavy-tailed, with outliers, bimodal, rounded to a timer's step so that values tie), for
sides of 2–16 processes, 1–50 cases and spreads of 1–40 %, with and without a between-session
offset. The rule must not call a case slower when its true change is at most the threshold
(at most alpha of comparisons, overall and in every cell), and must not call a true change of
twice the threshold "no change" (at most 5 %).

The power table (processes a side that decide a change at a spread) is simulated here too; it is
committed as linreg/compare/power_table.json, which the tool reads for its "would decide" advice,
and shown in the README. LINREG_WRITE_POWER_TABLE=1 rewrites both after a change to the rule.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from linreg.compare.power import TABLE_PATH, PowerTable
from linreg.compare.speed import FASTER, NO_CHANGE, SLOWER, judge_wall
from linreg.results.bench_sessions import CaseSamples
from linreg.results.noise_floor import NoiseFloor

ALPHA = 0.01
THRESHOLD = 0.10
NOISES = ("lognormal", "heavy", "outliers", "bimodal", "ties")
SIDES = ((2, 2), (3, 3), (5, 5), (8, 8), (16, 16), (4, 12), (12, 4))
CASES = (1, 10, 50)
SPREADS = (0.01, 0.10, 0.40)
SESSION = (False, True)  # a between-session offset of half the spread, known to the rule
README = Path(__file__).resolve().parent.parent / "README.md"


def draw(rng: np.random.Generator, noise: str, n: int, sd: float) -> np.ndarray:
    """n per-process log times around 0 with process-to-process spread ``sd``."""
    if noise == "heavy":  # Student t with 3 degrees of freedom, scaled to variance sd²
        return sd * rng.standard_t(3, n) / math.sqrt(3)
    base = rng.normal(0, sd, n)
    if noise == "outliers":  # a process now and then waits on a descheduled thread
        return base + (rng.random(n) < 0.1) * np.log(rng.uniform(1.5, 3.0, n))
    if noise == "bimodal":  # two states, e.g. where the scheduler put the threads
        return base + (rng.random(n) < 0.3) * math.log(1.6)
    return base


def side_times(rng, noise, n, sd, level, median=0.04) -> tuple[float, ...]:
    times = median * np.exp(level + draw(rng, noise, n, sd))
    if noise == "ties":  # a timer's step of half the spread: most processes tie
        step = max(sd / 2, 0.002) * median
        times = np.maximum(np.round(times / step), 1) * step
    return tuple(float(t) for t in times)


@dataclass(frozen=True)
class Cell:
    sides: tuple[int, int]
    cases: int
    spread: float
    noise: str
    session: bool

    @property
    def session_sd(self) -> float:
        return self.spread / 2 if self.session else 0.0


CELLS = [Cell(*combo) for combo in itertools.product(SIDES, CASES, SPREADS, NOISES, SESSION)]


def comparison(cell: Cell, truths: np.ndarray, rng: np.random.Generator) -> list[str]:
    """One simulated comparison: ``truths`` the true ratio of each case; the outcomes."""
    n, m = cell.sides
    ref, cand = {}, {}
    # One offset per side for the whole session: every case of it moves together.
    offsets = rng.normal(0, cell.session_sd, 2) if cell.session else (0.0, 0.0)
    for i, truth in enumerate(truths):
        name = f"case{i}"
        ref[name] = CaseSamples(name, side_times(rng, cell.noise, n, cell.spread, offsets[0]))
        cand[name] = CaseSamples(
            name, side_times(rng, cell.noise, m, cell.spread, offsets[1] + math.log(truth))
        )
    noise = None
    if cell.session:
        names = list(ref)
        noise = NoiseFloor("sim", 8, session_sd=dict.fromkeys(names, cell.session_sd))
    verdicts = judge_wall(ref, cand, THRESHOLD, ALPHA, noise)
    by_case = {v.case: v.outcome for v in verdicts}
    return [by_case[f"case{i}"] for i in range(len(truths))]


# True ratios for which "slower" is false: at the threshold (the hardest), inside it, faster.
NULL_TRUTHS = np.array([1 + THRESHOLD, 1 + THRESHOLD, 1.05, 1.0, 1 / (1 + THRESHOLD)])
REPEATS = {1: 60, 10: 24, 50: 8}  # comparisons per cell, by cases per comparison


@pytest.fixture(scope="module")
def null_results() -> dict[Cell, tuple[int, int]]:
    """Per cell: (comparisons, comparisons with a case called slower)."""
    rng = np.random.default_rng(20261204)
    results = {}
    for cell in CELLS:
        false = 0
        for _ in range(REPEATS[cell.cases]):
            truths = rng.choice(NULL_TRUTHS, cell.cases)
            false += SLOWER in comparison(cell, truths, rng)
        results[cell] = (REPEATS[cell.cases], false)
    return results


def test_at_least_ten_thousand_comparisons_are_judged(null_results):
    total = sum(n for n, _ in null_results.values())
    assert total >= 10_000, total
    assert {c.sides for c in null_results} >= {(2, 2), (16, 16)}
    assert {c.cases for c in null_results} == {1, 10, 50}


def test_false_slower_is_at_most_alpha_overall(null_results):
    total = sum(n for n, _ in null_results.values())
    false = sum(f for _, f in null_results.values())
    # The rate must not be credibly above alpha: a one-sided binomial bound at 0.1 %.
    assert false <= binom.ppf(0.999, total, ALPHA), f"{false} of {total} comparisons"


def test_false_slower_is_at_most_alpha_in_every_cell(null_results):
    # Each cell's count against a binomial at alpha, at 1 % over all cells (Bonferroni).
    bad = {
        cell: f"{false} of {n}"
        for cell, (n, false) in null_results.items()
        if false > binom.ppf(1 - 0.01 / len(null_results), n, ALPHA)
    }
    assert not bad, bad
    # And by each factor alone, where the cells pool enough comparisons to see alpha.
    for factor in ("sides", "cases", "spread", "noise", "session"):
        pooled: Counter = Counter()
        counts: Counter = Counter()
        for cell, (n, false) in null_results.items():
            key = getattr(cell, factor)
            pooled[key] += n
            counts[key] += false
        for key in pooled:
            assert counts[key] <= binom.ppf(0.999, pooled[key], ALPHA), (factor, key, counts)


def test_twice_the_threshold_is_not_called_no_change():
    rng = np.random.default_rng(7)
    said, total = Counter(), Counter()
    for cell in CELLS:
        if cell.cases == 50:
            continue  # the per-case rate does not depend on the family size for this claim
        for _ in range(3 if cell.cases == 10 else 6):
            truths = rng.choice([(1 + THRESHOLD) ** 2, (1 + THRESHOLD) ** -2], cell.cases)
            outcomes = comparison(cell, truths, rng)
            said[cell] += outcomes.count(NO_CHANGE)
            total[cell] += len(outcomes)
    overall = sum(said.values()) / sum(total.values())
    assert overall <= 0.05, overall
    worst = max(total, key=lambda c: said[c] / total[c])
    assert said[worst] / total[worst] <= 0.05 or said[worst] <= binom.ppf(
        1 - 0.01 / len(total), total[worst], 0.05
    ), (worst, said[worst], total[worst])


def test_a_large_change_over_enough_processes_is_found():
    # The rule must also decide: 8 vs 8 at a 3 % spread finds +30 % and -30 % nearly always.
    rng = np.random.default_rng(11)
    cell = Cell((8, 8), 10, 0.03, "lognormal", False)
    outcomes = []
    for _ in range(20):
        truths = rng.choice([1.3, 1 / 1.3, 1.0], 10)
        outcomes += list(zip(truths, comparison(cell, truths, rng), strict=True))
    expected = {1.3: SLOWER, 1 / 1.3: FASTER, 1.0: NO_CHANGE}
    right = sum(outcome == expected[truth] for truth, outcome in outcomes)
    assert right / len(outcomes) >= 0.95


# --- the power table ------------------------------------------------------------------------------

CHANGES = (1.0, 1.05, 1.15, 1.2, 1.3, 1.5, 2.0)
SPREAD_ROWS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
TRIED = (2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 48, 64)
POWER = 0.8
REPS = 200


def decides(change: float, sd: float, n: int, rng: np.random.Generator) -> float:
    """The share of one-case comparisons of n a side that reach the right outcome."""
    want = SLOWER if change > 1 + THRESHOLD else NO_CHANGE
    cell = Cell((n, n), 1, sd, "lognormal", False)
    right = sum(comparison(cell, np.array([change]), rng)[0] == want for _ in range(REPS))
    return right / REPS


def simulate_power_table() -> PowerTable:
    rng = np.random.default_rng(2026)
    rows = []
    for sd in SPREAD_ROWS:
        row = []
        for change in CHANGES:
            # The smallest n that decides, by bisection over the tried counts (power grows
            # with n); None when even the largest does not.
            low, high = 0, len(TRIED) - 1
            if decides(change, sd, TRIED[high], rng) < POWER:
                row.append(None)
                continue
            while low < high:
                middle = (low + high) // 2
                if decides(change, sd, TRIED[middle], rng) >= POWER:
                    high = middle
                else:
                    low = middle + 1
            row.append(TRIED[low])
        rows.append(tuple(row))
    return PowerTable(THRESHOLD, ALPHA, POWER, CHANGES, SPREAD_ROWS, tuple(rows), TRIED)


def power_markdown(table: PowerTable) -> str:
    head = "| spread \\ true change | " + " | ".join(
        f"{(c - 1) * 100:+.0f} %" for c in table.changes
    )
    rule = "| --- " * (len(table.changes) + 1) + "|"
    lines = [head + " |", rule]
    for sd, row in zip(table.spreads, table.processes, strict=True):
        cells = [f">{table.tried[-1]}" if n is None else str(n) for n in row]
        lines.append(f"| {sd * 100:g} % | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def simulated_table() -> PowerTable:
    table = simulate_power_table()
    if os.environ.get("LINREG_WRITE_POWER_TABLE") == "1":
        TABLE_PATH.write_text(json.dumps(table.to_dict(), indent=1) + "\n", encoding="utf-8")
        text = README.read_text(encoding="utf-8")
        pattern = re.compile(r"(<!-- power-table -->\n).*?(<!-- /power-table -->)", re.S)
        table_text = power_markdown(table)
        new = pattern.sub(lambda match: match[1] + table_text + "\n" + match[2], text)
        README.write_text(new, encoding="utf-8")
    return table


def test_the_committed_power_table_is_what_the_simulation_gives(simulated_table):
    committed = PowerTable.from_dict(json.loads(TABLE_PATH.read_text(encoding="utf-8")))
    assert committed == simulated_table


def test_the_readme_shows_the_power_table(simulated_table):
    assert power_markdown(simulated_table) in README.read_text(encoding="utf-8")


def test_the_power_table_grows_with_spread_and_nearness_to_the_threshold(simulated_table):
    def n(value):
        return math.inf if value is None else value

    rows = simulated_table.processes
    for column in range(len(CHANGES)):
        counts = [n(row[column]) for row in rows]
        assert counts == sorted(counts), (CHANGES[column], counts)
    slower = [i for i, c in enumerate(CHANGES) if c > 1 + THRESHOLD]
    for row in rows:
        counts = [n(row[i]) for i in slower]
        assert counts == sorted(counts, reverse=True), row
