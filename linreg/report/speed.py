"""Benchmark numbers the report shows: case labels, headline cases, and time ratios.

Rows are those of ``linreg.report.frames.bench_frame``; a ``series`` is one set of
measurements (a machine, or one file of a machine where the inputs hold several).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from linreg.units import missing

# The order kinds are shown in: the tutorial's run first, what it is made of after.
KIND_ORDER = ("train", "threads", "inference", "epoch", "engine_epoch", "copy")
KIND_TITLES = {
    "train": "train: the tutorial's 500 epochs",
    "threads": "threads: the train case at 1 thread and at all cores",
    "inference": "inference: one forward pass",
    "epoch": "epoch: one eager training epoch",
    "engine_epoch": "engine_epoch: each engine's steady epoch",
    "copy": "copy: the device's copy bandwidth (128 MiB)",
}
# What makes two rows of one machine the same case on two devices (cpu against a GPU).
_DEVICE_MATCH = ["kind", "dtype", "engine", "size", "seed", "name_without_device"]


def kinds_in_order(kinds: Sequence[str]) -> list[str]:
    present = list(dict.fromkeys(str(k) for k in kinds))
    return sorted(present, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k))


def case_label(row: pd.Series, with_kind: bool = False) -> str:
    """'cpu float32 eager N=1e+05 seed 42': the case's parameters, none of them the machine's
    (its thread count differs between machines; the threads kind says 1 thread or all cores)."""
    parts = [str(row["kind"])] if with_kind else []
    parts += [str(row[key]) for key in ("device", "dtype", "engine") if not missing(row.get(key))]
    if not missing(row.get("size")) and row["kind"] not in ("train", "copy"):
        parts.append(f"N={_count(int(row['size']))}")
    if row["kind"] == "threads":
        parts.append("all cores" if "threads-all" in str(row.get("name", "")) else "1 thread")
    if not missing(row.get("seed")):
        parts.append(f"seed {int(row['seed'])}")
    return " ".join(parts)


def _count(n: int) -> str:
    """40, 1000, 1e5, 1e7: sample counts as a reader writes them."""
    if n >= 10_000 and str(n).rstrip("0") == "1":
        return f"1e{len(str(n)) - 1}"
    return f"{n:,}"


def labelled(bench: pd.DataFrame) -> pd.DataFrame:
    """The rows with their case label, sorted by kind order then label."""
    if bench.empty:
        return bench.assign(case=pd.Series(dtype="string"))
    out = bench.assign(case=[case_label(r) for _, r in bench.iterrows()])
    rank = {k: i for i, k in enumerate(kinds_in_order(out["kind"].astype(str)))}
    order = out["kind"].astype(str).map(rank)
    # Sizes as numbers, so that N=10 comes before N=1,000.
    keys = ["_rank", "device", "dtype", "engine", "size", "seed", "case", "series"]
    return out.assign(_rank=order).sort_values(keys, na_position="first").drop(columns="_rank")


def series_order(bench: pd.DataFrame) -> list[str]:
    """Baselines first (they are what others are measured against), then by name."""
    first = bench.drop_duplicates("series")
    ordered = first.sort_values(["baseline", "series"], ascending=[False, True])
    return ordered["series"].astype(str).tolist()


def speed_ratios(bench: pd.DataFrame) -> pd.DataFrame:
    """Time ratios on matching cases, candidate time over reference time (above 1: slower).

    Within a series, each GPU against the CPU on the same case. Between series, each series
    against the first (a baseline where there is one), on every case both measured, matched by
    its pytest id, which names the case's parameters and nothing of the machine: two machines
    with different core counts still pair up.
    """
    columns = ["comparison", "reference", "candidate", "kind", "case", "ratio",
               "reference_s", "candidate_s"]  # fmt: skip
    if bench.empty:
        return pd.DataFrame(columns=columns)
    rows: list[dict] = []
    named = labelled(bench)
    named = named.assign(
        name_without_device=named["name"]
        .astype(str)
        .str.replace(r"\[(cpu|cuda(:\d+)?|mps)-?", "[", regex=True)
    )
    keyed = named.assign(**{k: named[k].astype("string").fillna("-") for k in _DEVICE_MATCH})
    for series, group in keyed.groupby("series", sort=True):
        cpu = group[group["device"] == "cpu"].drop_duplicates(_DEVICE_MATCH)
        cpu = cpu.set_index(_DEVICE_MATCH)
        for device in sorted(set(group["device"].dropna()) - {"cpu"}):
            other = group[group["device"] == device].drop_duplicates(_DEVICE_MATCH)
            other = other.set_index(_DEVICE_MATCH)
            for key in cpu.index.intersection(other.index):
                rows.append(_ratio_row(f"{series}: {device} ÷ cpu", cpu.loc[key], other.loc[key]))
    # Against one reference, not every pair: n machines give n - 1 comparisons to read.
    reference, *candidates = series_order(named)
    ref = named[named["series"] == reference].drop_duplicates("name").set_index("name")
    for candidate in candidates:
        can = named[named["series"] == candidate].drop_duplicates("name").set_index("name")
        for name in (n for n in ref.index if n in can.index):  # in the reference's order
            rows.append(_ratio_row(f"{candidate} ÷ {reference}", ref.loc[name], can.loc[name]))
    return pd.DataFrame(rows, columns=columns)


def _ratio_row(comparison: str, reference: pd.Series, candidate: pd.Series) -> dict:
    return {
        "comparison": comparison,
        "reference": str(reference["series"]),
        "candidate": str(candidate["series"]),
        "kind": str(reference["kind"]),
        "case": case_label(reference),
        "ratio": float(candidate["median_s"] / reference["median_s"]),
        "reference_s": float(reference["median_s"]),
        "candidate_s": float(candidate["median_s"]),
    }


def headline_cases(bench: pd.DataFrame) -> pd.DataFrame:
    """The cases that answer "how fast?" at a glance: the tutorial's full training run per
    device, dtype and engine (seed 42 where measured), and each device's copy bandwidth.

    Measured series come first; a committed baseline is shown only when the inputs hold nothing
    else.
    """
    measured = bench[~bench["baseline"]] if (~bench["baseline"]).any() else bench
    train = measured[measured["kind"] == "train"]
    if not train.empty and (train["seed"] == 42).any():
        train = train[train["seed"] == 42]
    copy = measured[measured["kind"] == "copy"]
    return labelled(pd.concat([train, copy]))


def baseline_ratio(bench: pd.DataFrame, row: pd.Series) -> tuple[float, str] | None:
    """This case's time over its machine's committed baseline in the inputs, if there is one."""
    if bool(row["baseline"]):
        return None
    base = bench[
        bench["baseline"] & (bench["machine"] == row["machine"]) & (bench["name"] == row["name"])
    ]
    if base.empty:
        return None
    # The newest baseline file: pytest-benchmark numbers them in order.
    latest = base.sort_values("file").iloc[-1]
    return float(row["median_s"] / latest["median_s"]), str(latest["series"])
