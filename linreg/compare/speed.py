"""Speed verdicts: is the candidate slower than the reference, beyond noise and threshold?

The sample is one figure per process: a case's median over its rounds in one process is one
sample, because rounds inside one process share its machine state (caches, frequency, where the
scheduler put its threads) and are not independent. Measured here: the train case's spread is
3.7 % within a process and 10 % between processes, so a rank test over rounds calls a quiet A/A
pair different a third of the time.

Two metrics:
- wall time: Mann–Whitney U over per-process medians, false discoveries controlled across the
  cases of one comparison (Benjamini–Hochberg), a confidence interval on the ratio, and a
  verdict of "undecided" where so few processes cannot reach alpha at all;
- instruction counts (callgrind, CPU only): deterministic to a fraction of a percent, so one
  process per side decides; judged against a threshold and the measured noise floor.

Either gates only when both sides come from the same machine: across machines, wall time and
instruction counts (other CPUs run other kernels) are information, never a verdict.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from linreg.errors import ConfigError
from linreg.results.bench_sessions import BenchSession, CaseSamples, session_samples
from linreg.results.noise_floor import NoiseFloor, spread

DEFAULT_ALPHA = 0.01
# Counts repeat within 0.4 % for the same code, but an unrelated change to linreg's own Python
# (another file, another order of cases) moved the small inference cases by up to 2.6 % while
# their kernels did the same work: 3 % keeps that quiet and still sees a 5 % slowdown.
DEFAULT_INSTRUCTION_THRESHOLD = 0.03
# A case whose processes disagree by more than this (one median more than 1.5x another) is
# scheduling-bound or bimodal: reported, never gated.
UNSTABLE_SPREAD = 0.5

WALL, INSTRUCTIONS = "wall", "instructions"
SLOWER, FASTER = "slower", "faster"
NO_CHANGE, WITHIN_NOISE, UNSTABLE = "no significant change", "within noise", "unstable"


def check_alpha(alpha: float) -> None:
    if not (math.isfinite(alpha) and 0 < alpha < 1):
        raise ConfigError("alpha", f"must be in (0, 1), got {alpha!r}")


def parse_fraction(field_name: str, text: str) -> float:
    """'10%' or '0.1' → 0.1, for thresholds."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(
            field_name, f"expected a percentage such as 10% or a fraction, got {text!r}"
        ) from None
    if not (math.isfinite(value) and 0 <= value < 10):
        raise ConfigError(field_name, f"expected a threshold between 0% and 1000%, got {text!r}")
    return value


@dataclass(frozen=True)
class CaseVerdict:
    """One case, one metric: the figures behind the verdict travel with it."""

    case: str
    metric: str  # WALL or INSTRUCTIONS
    reference: float  # median over the reference's processes (seconds or instructions)
    candidate: float
    samples: tuple[int, int]  # processes: reference, candidate
    ratio: float  # candidate / reference
    ci: tuple[float, float] | None  # of the ratio
    p: float | None  # raw p of the rank test (wall time only)
    p_adjusted: float | None  # Benjamini–Hochberg across the comparison's wall cases
    noise_floor: float | None
    threshold: float
    verdict: str

    @property
    def is_regression(self) -> bool:
        return self.verdict == SLOWER

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "metric": self.metric,
            "reference": self.reference,
            "candidate": self.candidate,
            "samples": list(self.samples),
            "ratio": self.ratio,
            "ci": None if self.ci is None else list(self.ci),
            "p": self.p,
            "p_adjusted": self.p_adjusted,
            "noise_floor": self.noise_floor,
            "threshold": self.threshold,
            "verdict": self.verdict,
        }


def min_p_value(n: int, m: int) -> float:
    """The smallest two-sided p an exact Mann–Whitney U test can give with n and m samples:
    all of one side below all of the other, 2 / C(n + m, n). 3 vs 3 cannot go below 0.1."""
    if n < 1 or m < 1:
        return 1.0
    return min(1.0, 2 / math.comb(n + m, n))


def _log_ratio_ci(
    reference: Sequence[float], candidate: Sequence[float], confidence: float
) -> tuple[float, float] | None:
    """Welch's interval on the difference of mean log times, as a ratio (per-process medians
    are close to log-normal); None where either side has fewer than two processes."""
    if len(reference) < 2 or len(candidate) < 2 or min(*reference, *candidate) <= 0:
        return None
    from scipy.stats import ttest_ind  # here: the CLI must start without scipy

    result = ttest_ind(
        [math.log(v) for v in candidate], [math.log(v) for v in reference], equal_var=False
    )
    low, high = result.confidence_interval(confidence_level=confidence)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return math.exp(low), math.exp(high)


def _direction(ratio: float, bound: float) -> str | None:
    if ratio > 1 + bound:
        return SLOWER
    if ratio < 1 / (1 + bound):
        return FASTER
    return None


def judge_wall(
    reference: Mapping[str, CaseSamples],
    candidate: Mapping[str, CaseSamples],
    threshold: float,
    alpha: float = DEFAULT_ALPHA,
    noise: NoiseFloor | None = None,
) -> list[CaseVerdict]:
    """Wall-time verdicts for the cases both sides have, with Benjamini–Hochberg across them."""
    check_alpha(alpha)
    from scipy.stats import false_discovery_control, mannwhitneyu

    cases = sorted(set(reference) & set(candidate))
    tested: dict[str, float] = {}
    rows: dict[str, dict[str, Any]] = {}
    for case in cases:
        ref, cand = reference[case].wall, candidate[case].wall
        if not ref or not cand:
            continue
        ref_median, cand_median = statistics.median(ref), statistics.median(cand)
        floor = _noise_for(case, noise, WALL, ref)
        row = {
            "reference": ref_median,
            "candidate": cand_median,
            "samples": (len(ref), len(cand)),
            "ratio": cand_median / ref_median if ref_median > 0 else math.inf,
            "ci": _log_ratio_ci(ref, cand, 1 - alpha),
            "noise_floor": floor,
            "p": None,
        }
        if max(spread(ref), spread(cand), floor or 0.0) > UNSTABLE_SPREAD:
            row["verdict"] = UNSTABLE
        elif min_p_value(len(ref), len(cand)) >= alpha:
            row["verdict"] = f"undecided ({len(ref)} vs {len(cand)} processes)"
        else:
            row["p"] = float(mannwhitneyu(ref, cand, alternative="two-sided").pvalue)
            tested[case] = row["p"]
        rows[case] = row
    adjusted = dict(tested)
    if len(tested) > 1:
        values = false_discovery_control(list(tested.values()), method="bh")
        adjusted = dict(zip(tested, (float(v) for v in values), strict=True))
    verdicts = []
    for case, row in rows.items():
        p_adjusted = adjusted.get(case)
        verdict = row.get("verdict")
        if verdict is None:
            if p_adjusted is not None and p_adjusted < alpha:
                bound = max(threshold, row["noise_floor"] or 0.0)
                verdict = _direction(row["ratio"], bound) or WITHIN_NOISE
            else:
                verdict = NO_CHANGE
        verdicts.append(
            CaseVerdict(
                case=case,
                metric=WALL,
                reference=row["reference"],
                candidate=row["candidate"],
                samples=row["samples"],
                ratio=row["ratio"],
                ci=row["ci"],
                p=row["p"],
                p_adjusted=p_adjusted,
                noise_floor=row["noise_floor"],
                threshold=threshold,
                verdict=verdict,
            )
        )
    return verdicts


def judge_instructions(
    reference: Mapping[str, CaseSamples],
    candidate: Mapping[str, CaseSamples],
    threshold: float = DEFAULT_INSTRUCTION_THRESHOLD,
    noise: NoiseFloor | None = None,
) -> list[CaseVerdict]:
    """Instruction-count verdicts: a change beyond the threshold and twice the noise floor."""
    verdicts = []
    for case in sorted(set(reference) & set(candidate)):
        ref, cand = reference[case].instructions, candidate[case].instructions
        if not ref or not cand:
            continue
        ref_median, cand_median = statistics.median(ref), statistics.median(cand)
        ratio = cand_median / ref_median if ref_median > 0 else math.inf
        floor = _noise_for(case, noise, INSTRUCTIONS, ref)
        bound = max(threshold, 2 * (floor or 0.0))
        verdict = _direction(ratio, bound) or NO_CHANGE
        if verdict == NO_CHANGE and _direction(ratio, threshold) is not None:
            verdict = WITHIN_NOISE
        verdicts.append(
            CaseVerdict(case, INSTRUCTIONS, ref_median, cand_median, (len(ref), len(cand)),
                        ratio, None, None, None, floor, threshold, verdict)
        )  # fmt: skip
    return verdicts


def _noise_for(
    case: str, noise: NoiseFloor | None, metric: str, reference: Sequence[float]
) -> float | None:
    """The machine's measured A/A spread for the case, else the reference's own spread across
    its processes (three or more), else unknown."""
    if noise is not None:
        stored = (noise.wall if metric == WALL else noise.instructions).get(case)
        if stored is not None:
            return stored
    return spread(reference) if len(reference) >= 3 else None


REGRESSED, NO_REGRESSION, UNDECIDED, NO_BASELINE = (
    "regressed",
    "no regression",
    "undecided",
    "no baseline",
)


@dataclass(frozen=True)
class SpeedVerdict:
    """The comparison's verdict and every case's evidence, as the terminal, the report's
    verdict panel and the exit code all read it."""

    reference: str
    candidate: str
    same_machine: bool
    gating: bool
    cases: list[CaseVerdict]
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[CaseVerdict]:
        return [c for c in self.cases if c.is_regression] if self.gating else []

    @property
    def verdict(self) -> str:
        if self.regressions:
            return REGRESSED
        decided = [c for c in self.cases if not c.verdict.startswith("undecided")]
        if self.cases and not decided:
            return UNDECIDED
        return NO_REGRESSION

    @property
    def summary(self) -> str:
        if not self.cases:
            return "no case in common"
        if self.regressions:
            worst = max(self.regressions, key=lambda c: c.ratio)
            return (
                f"{len(self.regressions)} of {len(self.cases)} case-metrics slower; worst "
                f"{worst.case} ({worst.metric}) ×{worst.ratio:.3g}"
            )
        if not self.same_machine:
            return "different machines: ratios are information, not a verdict"
        if self.verdict == UNDECIDED:
            return "undecided: too few processes for a wall-time verdict and no instruction counts"
        return f"no regression in {len(self.cases)} case-metrics"

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "candidate": self.candidate,
            "same_machine": self.same_machine,
            "gating": self.gating,
            "verdict": self.verdict,
            "summary": self.summary,
            "notes": self.notes,
            "cases": [c.to_dict() for c in self.cases],
        }


def _identity(session: BenchSession) -> tuple[Any, ...]:
    """What makes two sessions' times comparable: the machine and what its CPU runs."""
    env = session.files[0].environment
    return (session.machine, env.get("cpu"), env.get("cpu_count"), env.get("torch_cpu_capability"))


def judge_sessions(
    reference: BenchSession,
    candidate: BenchSession,
    threshold: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    instruction_threshold: float = DEFAULT_INSTRUCTION_THRESHOLD,
    noise: NoiseFloor | None = None,
) -> SpeedVerdict:
    """Every case both sessions hold, by wall time and (where counted) by instructions.

    ``threshold`` None reports without gating; a threshold gates only when both sessions come
    from the same machine.
    """
    same_machine = _identity(reference) == _identity(candidate)
    ref, cand = session_samples(reference), session_samples(candidate)
    cases = judge_wall(ref, cand, threshold or 0.0, alpha, noise) + judge_instructions(
        ref, cand, instruction_threshold, noise
    )
    notes = [f"reference: {reference.label}", f"candidate: {candidate.label}"]
    if not same_machine:
        notes.append(
            f"different machines ({reference.machine} vs {candidate.machine}, or another CPU "
            "model or capability): wall time and instruction counts are information here"
        )
    if not any(c.metric == INSTRUCTIONS for c in cases):
        notes.append("no instruction counts on both sides (Valgrind missing?): wall time alone")
    if noise is None:
        notes.append(
            f"no noise floor stored for {reference.machine} "
            "(linreg bench --processes 8 measures one)"
        )
    return SpeedVerdict(
        reference=reference.label,
        candidate=candidate.label,
        same_machine=same_machine,
        gating=threshold is not None and same_machine,
        cases=sorted(cases, key=_order),
        notes=notes,
    )


def _order(case: CaseVerdict) -> tuple[int, str, str]:
    rank = {SLOWER: 0, FASTER: 2, UNSTABLE: 3}.get(case.verdict, 1)
    return rank, case.case, case.metric


def no_baseline(reference: str, candidate: str, why: str) -> dict[str, Any]:
    """A speed verdict where there is nothing to compare with, said as such."""
    return {
        "reference": reference,
        "candidate": candidate,
        "same_machine": False,
        "gating": False,
        "verdict": NO_BASELINE,
        "summary": why,
        "notes": [],
        "cases": [],
    }
