"""Benchmark files as one tidy pandas DataFrame: one row per stored case."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from linreg.errors import ResultSetError
from linreg.results.bench_file import BenchFile
from linreg.results.load import load_bench
from linreg.results.walk import expand

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
    "file",
    "series",
    "baseline",
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
    """One row per stored case of every file given (files, or folders searched recursively)."""
    return bench_frame([load_bench(file) for file in bench_files(paths)])


def bench_frame(files: Iterable[BenchFile]) -> pd.DataFrame:
    """One row per case of the loaded benchmark files."""
    rows = [row for file in files for row in _rows(file)]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    # Nullable integers: a train case has no batch size, a copy case no seed.
    integers = {column: "Int64" for column in ("seed", "size", "threads", "rounds", "peak_bytes")}
    floats = {column: "float64" for column in ("epoch_us", "samples_per_s", "gb_per_s")}
    frame = frame.astype({**integers, **floats, "copy_gb_per_s": "float64"})
    return _with_series(frame)


def is_baseline_file(path: str | Path) -> bool:
    """A committed baseline lives under results/baselines/<machine>/ (linreg bench --baseline)."""
    return "baselines" in Path(path).parts


def _with_series(frame: pd.DataFrame) -> pd.DataFrame:
    """Name what one set of measurements is: its machine, or, where the inputs hold several
    files of one machine (a run beside its baseline, two baselines), the machine and the file's
    number, so that the same case measured twice is never drawn or divided as one."""
    baseline = frame["file"].map(is_baseline_file).astype(bool)
    files_of_machine = frame.groupby("machine", dropna=False)["file"].transform("nunique")
    number = frame["file"].map(lambda f: Path(f).name.split("_")[0])
    role = baseline.map({True: "baseline", False: "run"})
    series = (
        frame["machine"]
        .astype(str)
        .where(files_of_machine <= 1, frame["machine"].astype(str) + " " + role + " " + number)
    )
    # Two files of one machine with the same number (copied into two folders): use the stem.
    clash = series.groupby(series).transform(lambda s: frame.loc[s.index, "file"].nunique() > 1)
    stem = frame["file"].map(lambda f: Path(f).stem)
    series = series.where(~clash, frame["machine"].astype(str) + " " + stem)
    return frame.assign(series=series, baseline=baseline)


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
