"""Step detection at scale, on synthetic histories with planted steps: `python bench/steps_scale.py`
(or `nox -s steps_scale`). Prints times, steps found against planted, and peak memory.

1. One case over 10,000 sessions (`linreg compare --all` on a long-lived machine): the series
   alone through `find_steps`, then the same history as 10,000 in-memory benchmark files
   through `case_series` (sessions grouped, medians taken; reading files from disk is not timed).
2. The history site's shape: 10 machines × 1,000 sessions × 20 cases, 200,000 points, each series
   with up to three planted steps of 5 % to 40 % at known sessions.

A planted step counts as found when a step lies within ±TOLERANCE sessions of it; any other
step found is a false positive. Not collected by `pytest bench` (it collects bench_*.py), and it
needs no torch.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from linreg.compare.over_time import case_series
from linreg.compare.steps import find_steps
from linreg.results.bench_file import BenchCase, BenchFile
from linreg.results.history import history_of

TOLERANCE = 2  # sessions
CASE = "bench_train.py::bench_train[cpu-float32-seed42-eager]"


def planted_series(
    rng: np.random.Generator, n: int, steps: int, noise: float, min_level: int = 30
) -> tuple[np.ndarray, list[int]]:
    """A log-normal series of ``n`` sessions around 40 ms with ``steps`` steps of 5-40 % (up or
    down), each level at least ``min_level`` sessions long."""
    while True:
        where = np.sort(rng.choice(np.arange(min_level, n - min_level + 1), steps, replace=False))
        if steps == 0 or np.all(np.diff(where) >= min_level):
            break
    sizes = rng.uniform(0.05, 0.40, steps)
    ratios = np.where(rng.random(steps) < 0.5, 1 + sizes, 1 / (1 + sizes))
    level = np.ones(n)
    for index, ratio in zip(where, ratios, strict=True):
        level[index:] *= ratio
    return 0.040 * level * np.exp(rng.normal(0.0, noise, n)), [int(i) for i in where]


def score(found: list[int], planted: list[int]) -> tuple[int, int]:
    """(planted steps found within ±TOLERANCE, steps found that match no planted step)."""
    hits = sum(any(abs(f - p) <= TOLERANCE for f in found) for p in planted)
    false = sum(not any(abs(f - p) <= TOLERANCE for p in planted) for f in found)
    return hits, false


def memory_note(traced_peak: int) -> str:
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return f"peak traced {traced_peak / 1e6:.1f} MB, process max RSS {rss_kib / 1024:.0f} MiB"


def one_long_case(rng: np.random.Generator, sessions: int) -> None:
    values, planted = planted_series(rng, sessions, steps=4, noise=0.03)
    tracemalloc.start()
    start = time.perf_counter()
    found = [s.index for s in find_steps(values)]
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hits, false = score(found, planted)
    print(f"one case, {sessions:,} sessions, 3 % noise: find_steps {seconds:.3f} s")
    print(f"  planted {planted}, found {found}")
    print(f"  recall {hits}/{len(planted)}, false positives {false}; {memory_note(peak)}")

    # PELT prunes a candidate start only once a later step makes it hopeless: a long stretch
    # without a step is its slowest case (quadratic in that stretch in ruptures' C code).
    flat, _ = planted_series(rng, sessions, steps=0, noise=0.03)
    start = time.perf_counter()
    flat_found = find_steps(flat)
    print(
        f"  the same length with no step (PELT's slowest case): {time.perf_counter() - start:.3f} s"
        f", false positives {len(flat_found)}"
    )

    files = [
        BenchFile(
            Path(f"{i}.json"),
            {"linreg_machine": "m1", "linreg_session": f"s{i}", "linreg_process": 0},
            (BenchCase(CASE.split("::")[-1], CASE, {}, (float(value),)),),
            (datetime(2020, 1, 1) + timedelta(hours=i)).isoformat(),
        )
        for i, value in enumerate(values)
    ]
    start = time.perf_counter()
    [series] = case_series(history_of(files), 0.0)[CASE]
    seconds = time.perf_counter() - start
    listed = [s.position for s in series.steps]
    print(
        f"  case_series over {sessions:,} in-memory files (sessions grouped, medians): "
        f"{seconds:.3f} s, steps at {listed}"
    )


def site_shape(rng: np.random.Generator, machines: int, sessions: int, cases: int) -> None:
    planted_total = hits_total = false_total = 0
    series = []
    for _ in range(machines * cases):
        steps = int(rng.integers(0, 4))
        noise = float(rng.uniform(0.01, 0.03))
        series.append(planted_series(rng, sessions, steps, noise))
    tracemalloc.start()
    start = time.perf_counter()
    found = [[s.index for s in find_steps(values)] for values, _ in series]
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    for (_, planted), got in zip(series, found, strict=True):
        hits, false = score(got, planted)
        planted_total += len(planted)
        hits_total += hits
        false_total += false
    points = machines * sessions * cases
    print(
        f"site shape, {machines} machines × {sessions:,} sessions × {cases} cases = "
        f"{points:,} points ({len(series)} series, 1-3 % noise): find_steps {seconds:.3f} s "
        f"({seconds / len(series) * 1e3:.2f} ms a series)"
    )
    print(
        f"  planted {planted_total} steps of 5-40 %: found {hits_total} within ±{TOLERANCE} "
        f"(recall {hits_total / max(planted_total, 1):.1%}), false positives {false_total}; "
        f"{memory_note(peak)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sessions", type=int, default=10_000, help="the long case's sessions")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    import ruptures  # noqa: F401 -- its import (with scipy's) is paid once, timed apart

    print(f"import ruptures: {time.perf_counter() - start:.2f} s")
    find_steps([1.0, 1.0, 1.0])  # and the first call's lazy set-up
    one_long_case(rng, args.sessions)
    site_shape(rng, machines=10, sessions=1_000, cases=20)


if __name__ == "__main__":
    main()
