"""Invariants of the speed verdicts over generated comparisons (Hypothesis): what must hold for
any data, not only for the examples an author thought of."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from linreg.compare.speed import comparison_verdict, judge_instructions, judge_wall
from linreg.report.speed_words import headline, summary
from linreg.results.bench_sessions import CaseSamples
from linreg.results.speed_verdict import (
    FASTER,
    INSTRUCTIONS,
    NO_CHANGE,
    NO_REGRESSION,
    SLOWER,
    UNDECIDED,
    WALL,
    SpeedVerdict,
)

# Per-process medians: a level per case, then each process within a factor of it, so that
# decisions of every kind (slower, faster, no change, undecided) come up.
level = st.floats(min_value=1e-5, max_value=10.0, allow_nan=False, allow_infinity=False)
factor = st.floats(min_value=0.5, max_value=2.0, allow_nan=False, allow_infinity=False)
process_factors = st.lists(
    st.floats(min_value=0.9, max_value=1.1, allow_nan=False), min_size=1, max_size=9
)
threshold = st.sampled_from([0.02, 0.05, 0.1, 0.25])


@st.composite
def comparisons(draw):
    """(reference, candidate): 1–6 cases, 1–9 processes a side, the candidate's level a factor
    of the reference's, instruction counts on some cases."""
    reference, candidate = {}, {}
    for i in range(draw(st.integers(1, 6))):
        name = f"bench_x.py::bench_x[c{i}]"
        base, change = draw(level), draw(factor)
        ref = tuple(base * f for f in draw(process_factors))
        cand = tuple(base * change * f for f in draw(process_factors))
        counts = draw(st.booleans())
        reference[name] = CaseSamples(name, ref, (1e6,) if counts else ())
        candidate[name] = CaseSamples(name, cand, (1e6 * change,) if counts else ())
    return reference, candidate


def judge(reference, candidate, bound):
    # Interleaved sides: the rank rule itself, with no between-session term to leave it undecided.
    wall = judge_wall(reference, candidate, bound, interleaved=True)
    return wall + judge_instructions(reference, candidate)


def outcomes(verdicts):
    return {(v.case, v.metric): v.outcome for v in verdicts}


SWAPPED = {SLOWER: FASTER, FASTER: SLOWER}


@settings(max_examples=300, deadline=None)
@given(comparisons(), threshold)
def test_swapping_the_sides_swaps_slower_and_faster(sides, bound):
    reference, candidate = sides
    forward = outcomes(judge(reference, candidate, bound))
    backward = outcomes(judge(candidate, reference, bound))
    assert backward == {key: SWAPPED.get(o, o) for key, o in forward.items()}


@settings(max_examples=300, deadline=None)
@given(comparisons(), threshold, st.integers(-20, 20))
def test_scaling_every_time_by_one_constant_changes_no_verdict(sides, bound, power):
    # A power of two scales every float exactly, so the property is exact, not approximate.
    reference, candidate = sides
    scale = 2.0**power

    def scaled(side):
        return {k: CaseSamples(k, tuple(v * scale for v in s.wall), s.instructions)
                for k, s in side.items()}  # fmt: skip

    before = judge(reference, candidate, bound)
    after = judge(scaled(reference), scaled(candidate), bound)
    assert outcomes(after) == outcomes(before)
    for old, new in zip(before, after, strict=True):
        assert math.isclose(old.ratio, new.ratio, rel_tol=1e-12) or old.ratio == new.ratio


@settings(max_examples=300, deadline=None)
@given(comparisons(), threshold, st.booleans())
def test_the_headline_never_says_no_regression_while_a_row_says_slower(sides, bound, gating):
    reference, candidate = sides
    cases = tuple(judge(reference, candidate, bound))
    verdict = SpeedVerdict("ref", "cand", True, gating, comparison_verdict(True, cases), cases)
    if verdict.slower:
        assert verdict.verdict != NO_REGRESSION
        for text in (summary(verdict), headline(verdict)):
            assert "no regression" not in text
            slower = {c.case for c in verdict.slower}
            assert f"{len(slower)} of {len({c.case for c in verdict.cases})} cases slower" in text


@settings(max_examples=300, deadline=None)
@given(comparisons(), threshold)
def test_the_words_never_claim_more_for_a_metric_than_its_cases_earned(sides, bound):
    reference, candidate = sides
    cases = tuple(judge(reference, candidate, bound))
    verdict = SpeedVerdict("ref", "cand", True, True, comparison_verdict(True, cases), cases)
    said, last = summary(verdict), headline(verdict)
    for metric, word in ((WALL, "wall time"), (INSTRUCTIONS, "instructions")):
        mine = [c for c in cases if c.metric == metric]
        undecided = sum(c.outcome == UNDECIDED for c in mine)
        if not undecided:
            continue
        # No "within T" for a metric with an undecided case, and its count said where the
        # verdict cleared the cases anyway.
        assert f"{word} within" not in said
        if verdict.verdict == NO_REGRESSION:
            assert f"{word}: " in said and f"undecided in {undecided}" in said, said
            assert f"{word} undecided in" in last, last
            assert not last.startswith("no regression in"), last


@settings(max_examples=300, deadline=None)
@given(comparisons(), threshold)
def test_every_wall_outcome_is_earned_by_its_interval(sides, bound):
    reference, candidate = sides
    for v in judge_wall(reference, candidate, bound, interleaved=True):
        if v.outcome == SLOWER:
            assert v.ci[0] > 1 + bound and v.p_adjusted <= 0.01
        elif v.outcome == FASTER:
            assert v.ci[1] < 1 / (1 + bound) and v.p_adjusted <= 0.01
        elif v.outcome == NO_CHANGE:
            assert 1 / (1 + bound) < v.ci[0] and v.ci[1] < 1 + bound
