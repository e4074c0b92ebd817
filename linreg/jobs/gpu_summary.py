"""What a gpu-run found, computed from its own result folder, so that the archive alone answers
the questions the run was made for:

- crossover: per dtype, the smallest sample count from which a cuda epoch beats a cpu epoch at
  that size and every larger one measured on both;
- floor: each cuda epoch at the largest size against the least time its bytes can take, the
  bytes a step must move (X and y read once) at the measured copy bandwidth;
- repro levels: the level every determinism and consistency check reached (TF32 on against off,
  nondeterministic against deterministic, cuda against cpu, two processes), and the numeric
  flags each kind of run recorded in its fingerprint.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from linreg import units
from linreg.json_types import Fingerprint
from linreg.results import kinds
from linreg.results.bench_file import BenchCase
from linreg.results.gpu_run_summary import (
    CrossoverPoint,
    CrossoverRow,
    FloorRow,
    GpuRunSummary,
    ReproLevel,
    TrainRatio,
)
from linreg.results.kinds import REPRO_CHECKS_FILE, TARGET_REPRO_CHECKS
from linreg.results.load import load_checks, load_result, load_run
from linreg.results.walk import result_files

# The fingerprint entries that decide GPU numerics and speed, shown first in the summary.
FINGERPRINT_KEYS = (
    "gpus",
    "gpu_driver",
    "cuda",
    "cudnn",
    "torch",
    "python",
    "cpu",
    "cpu_count",
    "matmul_allow_tf32",
    "cudnn_allow_tf32",
    "float32_matmul_precision",
    "deterministic_algorithms",
    "cudnn_deterministic",
    "cudnn_benchmark",
)
# What a run's fingerprint says about the axes a repro run varies.
RUN_FLAG_KEYS = (
    "matmul_allow_tf32",
    "cudnn_allow_tf32",
    "float32_matmul_precision",
    "deterministic_algorithms",
    "cudnn_deterministic",
)


def bench_cases(folder: Path) -> list[BenchCase]:
    """Every case of every pytest-benchmark file under ``folder``."""
    if not folder.is_dir():
        return []
    cases = []
    for path in result_files(folder):
        loaded = load_result(path)
        if loaded is not None and loaded.kind == kinds.BENCH:
            cases.extend(loaded.value.cases)
    return cases


def _epoch_us(case: BenchCase) -> float | None:
    value = case.extra_info.get("epoch_us")
    return float(value) if isinstance(value, (int, float)) else None


def _by(cases: Iterable[BenchCase], kind: str) -> dict[tuple, dict[int, BenchCase]]:
    """Cases of one kind by (device, dtype, engine), then by size."""
    table: dict[tuple, dict[int, BenchCase]] = defaultdict(dict)
    for case in cases:
        info = case.extra_info
        if info.get("kind") == kind and isinstance(info.get("size"), int):
            engine = info.get("engine") or "eager"
            table[(info.get("device"), info.get("dtype"), engine)][info["size"]] = case
    return table


def crossover(points: list[tuple[int, float, float]]) -> tuple[int | None, str]:
    """(size, cpu_us, cuda_us) points: the crossover size and a sentence saying what was seen."""
    points = sorted(points)
    if not points:
        return None, "no size measured on both devices"
    start = len(points)
    for index in reversed(range(len(points))):
        if points[index][2] >= points[index][1]:
            break
        start = index
    largest = points[-1][0]
    if start == len(points):
        return None, f"cpu faster at every size measured on both (up to {largest})"
    size = points[start][0]
    if start == 0:
        return size, f"cuda faster at every size measured on both, from the smallest ({size})"
    return size, f"cuda faster from {size} samples on (cpu faster at {points[start - 1][0]})"


def crossover_table(cases: list[BenchCase]) -> tuple[CrossoverRow, ...]:
    """Per dtype: the eager epoch (one synchronised epoch a round) and each engine's steady
    epoch (a loop of epochs) on cuda against the same on cpu."""
    rows = []
    for kind, label in (("epoch", "one eager epoch"), ("engine_epoch", "steady epoch in a run")):
        table = _by(cases, kind)
        for (device, dtype, engine), cuda_cases in sorted(table.items()):
            if device != "cuda" or ("cpu", dtype, engine) not in table:
                continue
            cpu_cases = table[("cpu", dtype, engine)]
            points = [
                (size, cpu_us, cuda_us)
                for size in sorted(set(cpu_cases) & set(cuda_cases))
                if (cpu_us := _epoch_us(cpu_cases[size])) is not None
                and (cuda_us := _epoch_us(cuda_cases[size])) is not None
            ]
            size, verdict = crossover(points)
            rows.append(
                CrossoverRow(kind, label, dtype, engine, size, verdict,
                             tuple(CrossoverPoint(n, c, g) for n, c, g in points))
            )  # fmt: skip
    return tuple(rows)


def floor_table(cases: list[BenchCase]) -> tuple[FloorRow, ...]:
    """Each cuda epoch at its largest size against the copy-bandwidth floor of its bytes."""
    rows = []
    for kind in ("epoch", "engine_epoch"):
        for (device, dtype, engine), by_size in sorted(_by(cases, kind).items()):
            if device != "cuda":
                continue
            size = max(by_size)
            info = by_size[size].extra_info
            epoch_us, min_bytes = _epoch_us(by_size[size]), info.get("min_bytes")
            copy_gb_per_s = info.get("copy_gb_per_s")
            if epoch_us is None or not min_bytes or not copy_gb_per_s:
                continue
            floor_us = min_bytes / (copy_gb_per_s * 1e9) * 1e6
            rows.append(
                FloorRow(kind, dtype, engine, size, epoch_us, info.get("device_epoch_us"),
                         min_bytes, copy_gb_per_s, floor_us, epoch_us / floor_us)
            )  # fmt: skip
    return tuple(rows)


def train_ratios(cases: list[BenchCase]) -> tuple[TrainRatio, ...]:
    """The tutorial's whole run per dtype and engine: cpu epoch over cuda epoch."""
    runs: dict[tuple, dict[str, float]] = defaultdict(dict)
    for case in cases:
        info = case.extra_info
        if info.get("kind") == "train" and (us := _epoch_us(case)) is not None:
            runs[(info.get("dtype"), info.get("engine"))][info.get("device")] = us
    return tuple(
        TrainRatio(dtype, engine, by["cpu"], by["cuda"], by["cpu"] / by["cuda"])
        for (dtype, engine), by in sorted(runs.items())
        if "cpu" in by and "cuda" in by
    )


def repro_levels(
    repro_root: Path,
) -> tuple[tuple[ReproLevel, ...], tuple[dict[str, Any], ...]]:
    """Every determinism and consistency check of the newest repro set under ``repro_root``
    (none where it did not finish), and the numeric flags each (device, TF32, determinism) kind
    of run recorded in its fingerprint."""
    sets = sorted(p for p in repro_root.iterdir() if p.is_dir()) if repro_root.is_dir() else []
    if not sets:
        return (), ()
    levels = []
    checks_file = sets[-1] / REPRO_CHECKS_FILE
    loaded = load_result(checks_file) if checks_file.is_file() else None
    if loaded is not None and loaded.kind == TARGET_REPRO_CHECKS:
        # A target's set (gpu-run --target): its checks are its own record, not these levels.
        return (), ()
    # An interrupted set has runs but no checks: its runs' flags are still worth reading.
    for check in load_checks(checks_file).checks if checks_file.is_file() else ():
        comparison = check.comparison
        if check.kind not in ("determinism", "consistency") or comparison is None:
            continue
        levels.append(
            ReproLevel(check.kind, check.pair, check.subject, check.against, check.required,
                       comparison.level, comparison.horizon, check.holds)
        )  # fmt: skip
    flags = {}
    for path in sorted((sets[-1] / "first").glob("*.json")):
        run = load_run(path)
        c = run.config
        key = (c.device, c.tf32, c.deterministic)
        if key not in flags:
            env = run.environment
            flags[key] = {
                "device": c.device,
                "tf32": c.tf32,
                "deterministic": c.deterministic,
                **{name: env.get(name) for name in RUN_FLAG_KEYS},
                "CUBLAS_WORKSPACE_CONFIG": (env.get("env") or {}).get("CUBLAS_WORKSPACE_CONFIG"),
            }
    return tuple(levels), tuple(flags[key] for key in sorted(flags))


def fingerprint(environment: Fingerprint) -> Fingerprint:
    """The entries that decide GPU numerics first, then the rest (less torch's build text)."""
    first = {key: environment.get(key) for key in FINGERPRINT_KEYS}
    env_vars = environment.get("env") or {}
    first["CUBLAS_WORKSPACE_CONFIG"] = env_vars.get("CUBLAS_WORKSPACE_CONFIG")
    first["NVIDIA_TF32_OVERRIDE"] = env_vars.get("NVIDIA_TF32_OVERRIDE")
    rest = {k: v for k, v in environment.items() if k not in first and k != "torch_config"}
    return {**first, **rest}


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return units.sig(value)
    return str(value).replace("|", "\\|")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["None measured in this run.", ""]
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(summary: GpuRunSummary) -> str:
    """summary.json as a page to read: steps, crossovers, floors, repro levels, fingerprint."""
    lines = [
        f"# linreg gpu-run on {summary.machine}",
        "",
        f"{summary.verdict} — {summary.seconds:.0f} s of a {summary.budget_seconds:.0f} s "
        f"budget; cuda: {'yes' if summary.cuda else f'no ({summary.cuda_reason})'}.",
        "",
        "## Steps",
        "",
        *_table(
            ["step", "status", "seconds", "budget", "detail"],
            [[s.name, s.status, s.seconds, s.budget_seconds, s.detail] for s in summary.steps],
        ),
        "## CPU/GPU crossover",
        "",
    ]
    if not summary.crossover:
        lines += ["No size was measured on both cpu and cuda.", ""]
    for row in summary.crossover:
        lines += [f"**{row.dtype}, {row.engine}, {row.measure}**: {row.verdict}.", ""]
        lines += _table(
            ["samples", "cpu epoch µs", "cuda epoch µs", "cpu / cuda"],
            [[p.samples, p.cpu_epoch_us, p.cuda_epoch_us, p.cpu_over_cuda]
             for p in row.points],
        )  # fmt: skip
    lines += ["## Largest cuda epoch against the copy-bandwidth floor", ""]
    lines += _table(
        ["kind", "dtype", "engine", "samples", "epoch µs", "device µs", "floor µs", "× floor",
         "copy GB/s"],
        [[r.kind, r.dtype, r.engine, r.samples, r.epoch_us, r.device_epoch_us,
          r.floor_us, r.floor_multiple, r.copy_gb_per_s] for r in summary.floor],
    )  # fmt: skip
    lines += ["## The tutorial's run, cpu over cuda", ""]
    lines += _table(
        ["dtype", "engine", "cpu epoch µs", "cuda epoch µs", "cpu / cuda"],
        [[r.dtype, r.engine, r.cpu_epoch_us, r.cuda_epoch_us, r.cpu_over_cuda]
         for r in summary.train_ratios],
    )  # fmt: skip
    lines += ["## Repro levels", ""]
    lines += _table(
        ["check", "pair", "run", "against", "required", "level", "horizon", "holds"],
        [[r.kind, r.pair, r.subject, r.against, r.required, r.level,
          r.horizon, r.holds] for r in summary.repro_levels],
    )  # fmt: skip
    lines += ["## Numeric flags each kind of run recorded", ""]
    flag_rows = summary.repro_flags
    headers = list(flag_rows[0]) if flag_rows else ["device"]
    lines += _table(headers, [[row.get(h) for h in headers] for row in flag_rows])
    lines += ["## Fingerprint", ""]
    lines += _table(["entry", "value"], [[k, v] for k, v in summary.fingerprint.items()])
    return "\n".join(lines)
