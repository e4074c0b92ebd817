"""Loading stored pytest-benchmark JSON files of the bench/ suite into one tidy DataFrame."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from linreg.errors import ResultSetError

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
        path = Path(given)
        if path.is_dir():
            found = sorted(path.rglob("*.json"))
            if not found:
                raise ResultSetError(f"{path}: no benchmark JSON files in this folder")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ResultSetError(f"{path}: no such file or folder")
    if not files:
        raise ResultSetError("no benchmark files given")
    return list(dict.fromkeys(files))


def load_bench_frame(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per stored case of every file given (files, or folders searched recursively)."""
    rows = [row for file in bench_files(paths) for row in _rows(file)]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    # Nullable integers: a train case has no batch size, a copy case no seed.
    integers = {column: "Int64" for column in ("seed", "size", "threads", "rounds", "peak_bytes")}
    floats = {column: "float64" for column in ("epoch_us", "samples_per_s", "gb_per_s")}
    return frame.astype({**integers, **floats, "copy_gb_per_s": "float64"})


def _rows(file: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultSetError(f"{file}: not readable as JSON ({exc})") from None
    benchmarks = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(benchmarks, list):
        raise ResultSetError(f"{file}: not a pytest-benchmark file (no 'benchmarks' list)")
    machine_info = data.get("machine_info") or {}
    environment = machine_info.get("linreg_environment") or {}
    rows = []
    for bench in benchmarks:
        try:
            stats, extra = bench["stats"], bench.get("extra_info") or {}
            row = {column: stats[key] for column, key in _STATS.items()}
            row.update(name=bench["name"], fullname=bench["fullname"])
        except (KeyError, TypeError) as exc:
            raise ResultSetError(f"{file}: a benchmark lacks {exc}") from None
        row.update({key: extra.get(key) for key in _EXTRA})
        row.update(
            machine=extra.get("machine") or machine_info.get("linreg_machine"),
            device=extra.get("device"),
            dtype=extra.get("dtype"),
            seed=extra.get("seed"),
            engine=extra.get("engine"),
            size=extra.get("size"),
            threads=extra.get("threads"),
            kind=extra.get("kind"),
            torch=extra.get("torch") or environment.get("torch"),
            file=str(file),
        )
        rows.append(row)
    return rows
