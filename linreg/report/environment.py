"""The environments side by side: what a reader compares first, in words, differing rows first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from linreg.env import NUMERIC_CPU_FLAGS
from linreg.env_diff import diff_environments, flatten
from linreg.json_types import Fingerprint
from linreg.report.tables import Table

Env = Fingerprint


def with_cpuinfo(environment: Env, machine_info: Fingerprint) -> Env:
    """A benchmark file's fingerprint, its CPU details filled in from py-cpuinfo's record in the
    same file where the fingerprint predates them (files from before linreg recorded them)."""
    cpu = machine_info.get("cpu")
    if not isinstance(cpu, dict):
        return environment
    flags = set(cpu.get("flags") or [])
    signature = [cpu.get(k) for k in ("family", "model", "stepping")]
    l3 = cpu.get("l3_cache_size")
    found = {
        "cpu_vendor": cpu.get("vendor_id_raw"),
        "cpu_signature": "family {} model {} stepping {}".format(*signature)
        if all(v is not None for v in signature)
        else None,
        "cpu_flags_summary": " ".join(f for f in NUMERIC_CPU_FLAGS if f in flags) or None,
        "cpu_l3_cache": f"{l3 // 1024}K" if isinstance(l3, int) and l3 > 0 else None,
    }
    filled = dict(environment)
    for key, value in found.items():
        if filled.get(key) is None and value is not None:
            filled[key] = value
    return filled


def _on_off(value: Any) -> str:
    return "on" if value is True else "off" if value is False else "?"


def _threads(env: Env) -> str:
    return f"{env.get('num_threads', '?')} intra-op, {env.get('num_interop_threads', '?')} inter-op"


def _determinism(env: Env) -> str:
    return (
        f"deterministic algorithms {_on_off(env.get('deterministic_algorithms'))}; "
        f"cuDNN deterministic {_on_off(env.get('cudnn_deterministic'))}, "
        f"benchmark {_on_off(env.get('cudnn_benchmark'))}"
    )


def _tf32(env: Env) -> str:
    return (
        f"matmul {_on_off(env.get('matmul_allow_tf32'))}, "
        f"cuDNN {_on_off(env.get('cudnn_allow_tf32'))}; "
        f"float32 matmul precision {env.get('float32_matmul_precision', '?')}"
    )


def _gpus(env: Env) -> str:
    gpus = list(env.get("gpus") or [])
    if not gpus:
        return "none"
    capabilities = list(env.get("gpu_capabilities") or [])
    if len(capabilities) == len(gpus):
        gpus = [f"{g} (sm {c})" for g, c in zip(gpus, capabilities, strict=True)]
    return ", ".join(gpus)


def _env_vars(env: Env) -> str:
    values = env.get("env") or {}
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()) if v is not None)


# (row, how to say it, the fingerprint keys it covers). Every other key gets a row of its own.
ROWS: tuple[tuple[str, Callable[[Env], Any], tuple[str, ...]], ...] = (
    ("CPU model", lambda e: e.get("cpu"), ("cpu",)),
    ("CPU vendor", lambda e: e.get("cpu_vendor"), ("cpu_vendor",)),
    ("CPU family / model / stepping", lambda e: e.get("cpu_signature"), ("cpu_signature",)),
    ("CPU features", lambda e: e.get("cpu_flags_summary"), ("cpu_flags_summary",)),
    ("L3 cache", lambda e: e.get("cpu_l3_cache"), ("cpu_l3_cache",)),
    ("CPU cores", lambda e: e.get("cpu_count"), ("cpu_count",)),
    ("GPU", _gpus, ("gpus", "gpu_capabilities")),
    ("GPU driver", lambda e: e.get("gpu_driver"), ("gpu_driver",)),
    ("torch", lambda e: e.get("torch"), ("torch",)),
    ("CUDA", lambda e: e.get("cuda"), ("cuda",)),
    ("cuDNN", lambda e: e.get("cudnn"), ("cudnn",)),
    ("torch CPU capability", lambda e: e.get("torch_cpu_capability"), ("torch_cpu_capability",)),
    ("threads", _threads, ("num_threads", "num_interop_threads")),
    (
        "determinism",
        _determinism,
        ("deterministic_algorithms", "cudnn_deterministic", "cudnn_benchmark"),
    ),
    ("TF32", _tf32, ("matmul_allow_tf32", "cudnn_allow_tf32", "float32_matmul_precision")),
    ("numeric env vars set", _env_vars, ()),
    ("Python", lambda e: e.get("python"), ("python",)),
    ("OS", lambda e: e.get("os"), ("os",)),
    ("linreg commit", lambda e: e.get("linreg_commit"), ("linreg_commit",)),
)
# Long or already said: torch's build text (its version and git hash say which build it is).
_LEFT_OUT = {"torch_config"}


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def environment_table(environments: dict[str, Env]) -> Table:
    """One column per machine; rows that differ between machines first, marked "≠"."""
    labels = list(environments)
    covered = {key for _, _, keys in ROWS for key in keys} | _LEFT_OUT
    rows: list[tuple[str, list[str]]] = [
        (title, [_text(say(environments[label])) for label in labels]) for title, say, _ in ROWS
    ]
    flat = {label: flatten(env) for label, env in environments.items()}
    # The numeric env vars are said in one row above, as those that are set.
    others = sorted({k for f in flat.values() for k in f if not k.startswith("env.")} - covered)
    rows += [(key, [_text(flat[label].get(key)) for label in labels]) for key in others]
    rows = [(title, values) for title, values in rows if any(values) or title == "GPU"]
    several = len(labels) > 1
    differs = [several and len(set(values)) > 1 for _, values in rows]
    order = sorted(range(len(rows)), key=lambda i: (not differs[i], i))
    frame = pd.DataFrame(
        [
            {
                **({"": "≠" if differs[i] else ""} if several else {}),
                "what": rows[i][0],
                **dict(zip(labels, rows[i][1], strict=True)),
            }
            for i in order
        ]
    )
    return Table(frame, ["differs" if differs[i] else "" for i in order])


def differing_keys(first: Env, second: Env) -> dict[str, tuple[Any, Any]]:
    """The fingerprint keys two environments differ in, torch's build text left out."""
    return {k: v for k, v in diff_environments(first, second).items() if k not in _LEFT_OUT}
