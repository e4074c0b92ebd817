"""Benchmark numbers the report shows: case labels, headline cases, and time ratios.

Rows are those of ``linreg.report.frames.bench_frame``; a ``series`` is one set of
measurements (a session: one or more processes of one machine and stack).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from linreg.report.comparisons import DEVICE, Plan, comparison_plan
from linreg.units import integer, missing, seconds

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


def speed_ratios(bench: pd.DataFrame, plan: Plan | None = None) -> pd.DataFrame:
    """Time ratios on matching cases, candidate time over reference time (above 1: slower).

    Within a series, each GPU against the CPU on the same case. Between series, the plan's
    comparisons (``linreg.report.comparisons``), on every case both measured, matched by its
    pytest id, which names the case's parameters and nothing of the machine: two machines with
    different core counts still pair up.
    """
    columns = ["comparison", "relation", "reference", "candidate", "kind", "name", "case",
               "ratio", "reference_s", "candidate_s"]  # fmt: skip
    if bench.empty:
        return pd.DataFrame(columns=columns)
    plan = plan if plan is not None else comparison_plan(bench)
    named = bench if "case" in bench.columns else labelled(bench)
    keep = ["series", "name", "kind", "case", "median_s"]
    between = pd.DataFrame(
        [(c.name, c.relation, c.reference, c.candidate) for c in plan.comparisons],
        columns=["comparison", "relation", "reference", "candidate"],
    )
    parts = []
    if not between.empty:
        cases = named.drop_duplicates(["series", "name"])[keep]
        paired = between.merge(
            cases.rename(columns={"series": "reference", "median_s": "reference_s"}),
            on="reference",
        ).merge(
            cases[["series", "name", "median_s"]].rename(
                columns={"series": "candidate", "median_s": "candidate_s"}
            ),
            on=["candidate", "name"],
        )
        parts.append(paired)
    parts.append(_device_ratios(named))
    ratios = pd.concat([p for p in parts if not p.empty] or [pd.DataFrame(columns=columns)])
    ratios = ratios.assign(ratio=ratios["candidate_s"] / ratios["reference_s"])
    return ratios[columns].reset_index(drop=True)


def _device_ratios(named: pd.DataFrame) -> pd.DataFrame:
    """Each GPU ÷ the CPU within one series, on the same case."""
    keyed = named.assign(
        name_without_device=named["name"]
        .astype(str)
        .str.replace(r"\[(cpu|cuda(:\d+)?|mps)-?", "[", regex=True)
    )
    keyed = keyed.assign(**{k: keyed[k].astype("string").fillna("-") for k in _DEVICE_MATCH})
    cpu = keyed[keyed["device"] == "cpu"].drop_duplicates(["series", *_DEVICE_MATCH])
    other = keyed[keyed["device"].notna() & (keyed["device"] != "cpu")]
    other = other.drop_duplicates(["series", *_DEVICE_MATCH])
    if cpu.empty or other.empty:
        return pd.DataFrame()
    paired = cpu[["series", *_DEVICE_MATCH, "name", "case", "median_s"]].merge(
        other[["series", *_DEVICE_MATCH, "median_s"]].assign(device=other["device"].astype(str)),
        on=["series", *_DEVICE_MATCH],
        suffixes=("_ref", "_cand"),
    )
    return pd.DataFrame(
        {
            "comparison": paired["series"] + ": " + paired["device"] + " ÷ cpu",
            "relation": DEVICE,
            "reference": paired["series"],
            "candidate": paired["series"],
            "kind": paired["kind"].astype(str),
            "name": paired["name"],
            "case": paired["case"],
            "reference_s": paired["median_s_ref"],
            "candidate_s": paired["median_s_cand"],
        }
    )


def headline_cases(bench: pd.DataFrame, series: list[str] | None = None) -> pd.DataFrame:
    """The cases that answer "how fast?" at a glance: the tutorial's full training run per
    device, dtype and engine (seed 42 where measured), and each device's copy bandwidth, of the
    given series (by default the measured ones; committed baselines only where there is nothing
    else)."""
    if series is not None:
        shown = bench[bench["series"].isin(series)]
    else:
        shown = bench[~bench["baseline"]] if (~bench["baseline"]).any() else bench
    train = shown[shown["kind"] == "train"]
    if not train.empty and (train["seed"] == 42).any():
        train = train[train["seed"] == 42]
    copy = shown[shown["kind"] == "copy"]
    rows = labelled(pd.concat([train, copy]))
    if series is not None:  # in the order given, as the panel names them
        rank = {name: i for i, name in enumerate(series)}
        rows = rows.assign(_order=rows["series"].map(rank)).sort_values("_order", kind="stable")
        rows = rows.drop(columns="_order")
    return rows


def session_names(bench: pd.DataFrame) -> dict[str, str]:
    """Each session's label (as a speed verdict names a side) to its series' name."""
    first = bench.drop_duplicates("series")
    return dict(zip(first["session"].astype(str), first["series"].astype(str), strict=True))


def case_names(bench: pd.DataFrame) -> dict[str, str]:
    """Each case id (pytest's fullname, and its short name) to the words the tables use."""
    first = bench.drop_duplicates("fullname")
    labels = [case_label(row, with_kind=True) for _, row in first.iterrows()]
    return {
        **dict(zip(first["name"].astype(str), labels, strict=True)),
        **dict(zip(first["fullname"].astype(str), labels, strict=True)),
    }


def median_with_spread(row: pd.Series) -> str:
    spread = "" if missing(row.get("iqr_s")) else f" ± {seconds(float(row['iqr_s']) / 2, 2)}"
    return f"{seconds(row['median_s'])}{spread}"


def samples_words(row: pd.Series) -> str:
    """What the median is a median of: processes (each one sample), or one process's rounds."""
    processes = row.get("processes")
    if not missing(processes) and int(processes) > 1:
        return f"{int(processes)} processes"
    return f"{integer(row['rounds'])} rounds"
