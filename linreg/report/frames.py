"""Benchmark files as one tidy pandas DataFrame: one row per case of each series.

A series is a session (``linreg.results.bench_sessions``): the processes of one `linreg bench
--processes N`, one side of an A/B, or a single file. A session of several processes is one
series, never N: each process's median round is one sample, the median of those is the
session's figure and their interquartile range its spread (rounds inside one process share its
machine state and are not independent). A single process keeps its own rounds' median and IQR.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from linreg.errors import ResultSetError
from linreg.report.series import is_baseline, is_baseline_file, series_names
from linreg.results.bench_file import BenchFile
from linreg.results.bench_sessions import sessions
from linreg.results.load import load_bench
from linreg.results.walk import expand

__all__ = ["COLUMNS", "bench_files", "bench_frame", "is_baseline_file", "load_bench_frame"]

COLUMNS = (
    "machine",
    "device",
    "dtype",
    "seed",
    "engine",
    "size",
    "threads",
    "kind",
    "name",
    "fullname",
    "median_s",
    "iqr_s",
    "mean_s",
    "stddev_s",
    "min_s",
    "rounds",
    "ops",
    "epoch_us",
    "samples_per_s",
    "gb_per_s",
    "copy_gb_per_s",
    "peak_bytes",
    "torch",
    "file",  # the session's first process file
    "series",
    "baseline",
    "session",  # the session's label (BenchSession.label): how a speed verdict names it
    "processes",
    "started",
)
_STATS = {
    "median_s": "median",
    "iqr_s": "iqr",
    "mean_s": "mean",
    "stddev_s": "stddev",
    "min_s": "min",
    "rounds": "rounds",
    "ops": "ops",
}
_EXTRA = ("epoch_us", "samples_per_s", "gb_per_s", "copy_gb_per_s", "peak_bytes")
# A derived figure of a session is the median of its processes' figures, as its time is.
_MEDIAN_OVER_PROCESSES = ("epoch_us", "samples_per_s", "gb_per_s", "copy_gb_per_s")


def bench_files(paths: Iterable[str | Path]) -> list[Path]:
    """The JSON files named, and those anywhere under the folders named, in a stable order."""
    files: list[Path] = []
    for given in paths:
        found = expand(given)
        if not found:
            raise ResultSetError(f"{given}: no benchmark JSON files in this folder")
        files.extend(found)
    if not files:
        raise ResultSetError("no benchmark files given")
    return list(dict.fromkeys(files))


def load_bench_frame(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per case of each session in the files given (files, or folders searched
    recursively)."""
    return bench_frame([load_bench(file) for file in bench_files(paths)])


def bench_frame(files: Iterable[BenchFile]) -> pd.DataFrame:
    """One row per case of each session of the loaded benchmark files."""
    found = sessions(files)
    rows = []
    for session, series in zip(found, series_names(found), strict=True):
        identity = {
            "series": series,
            "baseline": is_baseline(session),
            "session": session.label,
            "started": session.started,
            "file": str(session.files[0].path),
        }
        rows += [{**row, **identity} for file in session.files for row in _rows(file)]
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "processes"])
    frame = _pooled(frame)
    # Nullable integers: a train case has no batch size, a copy case no seed.
    integers = ("seed", "size", "threads", "rounds", "peak_bytes", "processes")
    floats = ("epoch_us", "samples_per_s", "gb_per_s", "copy_gb_per_s")
    types = {**dict.fromkeys(integers, "Int64"), **dict.fromkeys(floats, "float64")}
    return frame.astype({**types, "baseline": bool})[list(COLUMNS)]


def _pooled(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per series and case: a session's processes pooled (see the module's note)."""
    keys = ["series", "fullname"]
    processes = frame.groupby(keys, sort=False)["median_s"].transform("size")
    single = frame[processes == 1].assign(processes=1)
    several = frame[processes > 1]
    if several.empty:
        return single
    groups = several.groupby(keys, sort=False)
    pooled = groups.nth(0).set_index(keys)  # the case's parameters, the session's identity
    medians = groups["median_s"]
    quartiles = medians.quantile([0.25, 0.75]).unstack()
    pooled = pooled.assign(
        median_s=medians.median(),
        iqr_s=quartiles[0.75] - quartiles[0.25],
        mean_s=groups["mean_s"].mean(),
        stddev_s=medians.std(),  # between processes
        min_s=groups["min_s"].min(),
        rounds=groups["rounds"].sum(),
        ops=1 / medians.median(),
        peak_bytes=groups["peak_bytes"].max(),
        processes=medians.size(),
        **{column: groups[column].median() for column in _MEDIAN_OVER_PROCESSES},
    )
    return pd.concat([single, pooled.reset_index()], ignore_index=True)


def _rows(file: BenchFile) -> list[dict[str, Any]]:
    rows = []
    for case in file.cases:
        extra = case.extra_info
        try:
            row = {column: case.stats[key] for column, key in _STATS.items()}
        except KeyError as exc:
            raise ResultSetError(f"{file.path}: {case.fullname} lacks the stat {exc}") from None
        row.update(name=case.name, fullname=case.fullname)
        row.update({key: extra.get(key) for key in _EXTRA})
        row.update(
            machine=extra.get("machine") or file.machine,
            device=extra.get("device"),
            dtype=extra.get("dtype"),
            seed=extra.get("seed"),
            engine=extra.get("engine"),
            size=extra.get("size"),
            threads=extra.get("threads"),
            kind=extra.get("kind"),
            torch=extra.get("torch") or file.environment.get("torch"),
            file=str(file.path),
        )
        rows.append(row)
    return rows
