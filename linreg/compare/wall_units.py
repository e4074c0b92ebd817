"""Wall times in units that do not match: one side in milliseconds, the other in seconds.

pytest-benchmark stores seconds, but a side converted by hand, or read from another tool, can
hold milliseconds or microseconds. Judged as times, such a side is "slower ×1008"; it is refused
instead, naming both sides' medians.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping

from linreg.errors import ResultSetError
from linreg.results.bench_sessions import CaseSamples

# A side a power of 1000 off, times whatever change the code made: within this factor of the
# power in every case is a unit, not a change.
SLACK = 3.0


def check_units(reference: Mapping[str, CaseSamples], candidate: Mapping[str, CaseSamples]) -> None:
    """Refuse a comparison whose every common case's candidate median is about 1000^k times
    the reference's (k a whole number other than 0)."""
    medians = []
    for case in sorted(set(reference) & set(candidate)):
        ref = [v for v in reference[case].wall if v > 0]
        cand = [v for v in candidate[case].wall if v > 0]
        if ref and cand:
            medians.append((case, statistics.median(ref), statistics.median(cand)))
    if not medians:
        return
    thousands = [math.log10(cand / ref) / 3 for _, ref, cand in medians]
    power = round(thousands[0])
    slack = math.log10(SLACK) / 3
    if power == 0 or any(abs(t - power) > slack for t in thousands):
        return
    case, ref, cand = medians[0]
    factor = f"{1000.0**power:g}" if power > 0 else f"1/{1000.0**-power:g}"
    more = f" and {len(medians) - 1} more case(s) alike" if len(medians) > 1 else ""
    raise ResultSetError(
        f"wall times in units that do not match: the candidate's are about {factor}× the "
        f"reference's (median {cand:.4g} against {ref:.4g} for {case}{more}); one side in ms "
        "or µs rather than s? Refused rather than judged"
    )
