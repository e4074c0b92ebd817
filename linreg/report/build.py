"""Build the HTML report from result sets: collect what the inputs hold, then draw each part."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from linreg.data import make_dataset
from linreg.env import diff_environments
from linreg.errors import OutputError, ResultSetError
from linreg.model import LrModel, predict
from linreg.report import figures
from linreg.report.page import Section, render_page
from linreg.report.tutorial_figures import tutorial_figures
from linreg.run import Run
from linreg.state import state_from_json
from linreg.store import RUN_JSON, load_run, write_text_atomic


@dataclass
class ReportInputs:
    """Everything the report draws, already loaded from disk."""

    runs: list[tuple[str, Run]] = field(default_factory=list)
    bench: pd.DataFrame | None = None
    repro_pairs: pd.DataFrame | None = None
    sweep_bands: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    sections: tuple[str, ...]
    figures: tuple[str, ...]
    images: tuple[Path, ...] = ()


def _is_bench_file(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and "benchmarks" in data and "machine_info" in data


def collect_inputs(paths: Sequence[str | Path]) -> ReportInputs:
    """Load run folders and benchmark files from the given files and folders (recursively)."""
    inputs = ReportInputs()
    bench_files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ResultSetError(f"{path}: no such file or folder")
        candidates = [path] if path.is_file() else sorted(path.rglob("*.json"))
        found = False
        for file in candidates:
            if file.name == RUN_JSON:
                run = load_run(file)
                label = _run_label(run, file.parent.name)
                inputs.runs.append((label, run))
                inputs.environments.setdefault(_machine_label(run.environment), run.environment)
                found = True
            elif _is_bench_file(file):
                bench_files.append(file)
                found = True
        if not found:
            raise ResultSetError(f"{path}: holds no linreg result (run folder or benchmark JSON)")
        inputs.sources.append(str(path))
    if bench_files:
        from linreg.bench_results import load_bench_frame

        inputs.bench = load_bench_frame(bench_files)
        for file in bench_files:
            info = json.loads(file.read_text(encoding="utf-8")).get("machine_info", {})
            environment = info.get("linreg_environment") or info
            inputs.environments.setdefault(
                str(info.get("linreg_machine") or file.parent.name), environment
            )
    return inputs


def _run_label(run: Run, folder: str) -> str:
    c = run.config
    return f"{c.device} {c.dtype} {c.engine} seed {c.seed} ({folder[:24]})"


def _machine_label(environment: dict[str, Any]) -> str:
    gpus = ", ".join(environment.get("gpus") or [])
    hardware = environment.get("cpu", "?") + (f" + {gpus}" if gpus else "")
    return f"{hardware} / torch {environment.get('torch', '?')}"


def environment_table(environments: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One column per machine; rows that differ between machines come first, marked."""
    labels = list(environments)
    flat = {label: _flat(env) for label, env in environments.items()}
    keys = sorted(set().union(*(f.keys() for f in flat.values()))) if flat else []
    differing: set[str] = set()
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            differing |= set(diff_environments(environments[a], environments[b]))
    rows = [
        {
            "key": key,
            "differs": "yes" if key in differing else "",
            **{label: _short(flat[label].get(key)) for label in labels},
        }
        for key in keys
        if key != "torch_config"
    ]
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(["differs", "key"], ascending=[False, True]).set_index("key")


def _flat(env: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in env.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def build_sections(inputs: ReportInputs) -> list[Section]:
    sections: list[Section] = []
    if inputs.runs:
        label, run = inputs.runs[0]
        state = state_from_json(run.final_state)
        model = LrModel().to(dtype=state["linear.weight"].dtype)
        model.load_state_dict(state)
        data = make_dataset(run.config, device="cpu")
        section = Section(
            "tutorial",
            "The tutorial's figures",
            notes=[
                f"From {label}: weight {run.final_weight:.6g} "
                f"(true {run.config.weight:g}), bias {run.final_bias:.6g} "
                f"(true {run.config.bias:g})."
            ],
        )
        names = ("tutorial-data", "tutorial-predictions", "tutorial-loss")
        section.figures.extend(
            zip(
                names, tutorial_figures(data, predict(model, data.X_test), run.history), strict=True
            )
        )
        sections.append(section)
        curves = Section("loss-curves", "Loss curves across devices, dtypes, seeds and engines")
        curves.figures.append(
            (
                "loss-overlay",
                figures.loss_curves_figure(
                    [(lbl, r.history) for lbl, r in inputs.runs], "Train loss per epoch"
                ),
            )
        )
        curves.tables.append(
            (
                "Final parameters",
                pd.DataFrame(
                    [
                        {
                            "run": lbl,
                            "weight": r.final_weight,
                            "bias": r.final_bias,
                            "final train loss": r.history.train_loss[-1],
                            "train seconds": r.timings.get("train_seconds"),
                        }
                        for lbl, r in inputs.runs
                    ]
                ).set_index("run"),
            )
        )
        sections.append(curves)
    bench = inputs.bench
    if bench is not None and not bench.empty:
        timed = bench[bench["kind"].isin(["train", "inference", "threads"])]
        section = Section("timings", "Timings per case")
        if not timed.empty:
            section.figures.append(("timings", figures.timings_figure(timed)))
        cols = [
            c
            for c in (
                "machine",
                "kind",
                "device",
                "dtype",
                "engine",
                "seed",
                "size",
                "threads",
                "median_s",
                "iqr_s",
                "rounds",
                "epoch_us",
                "peak_bytes",
            )
            if c in bench.columns
        ]
        section.tables.append(("All cases", bench[cols].reset_index(drop=True)))
        sections.append(section)
        ratios = figures.speed_ratios(bench)
        if not ratios.empty:
            ratio_section = Section("ratios", "Speed ratios: CPU vs GPU, machine vs machine")
            ratio_section.figures.append(("speed-ratios", figures.speed_ratio_figure(ratios)))
            ratio_section.tables.append(("Ratios", ratios))
            sections.append(ratio_section)
        sweep = bench[bench["kind"] == "epoch"]
        if not sweep.empty:
            sweep_section = Section("size-sweep", "Size sweep against the copy-bandwidth roofline")
            sweep_section.figures.append(("size-sweep", figures.size_sweep_figure(sweep)))
            sections.append(sweep_section)
    if inputs.repro_pairs is not None and not inputs.repro_pairs.empty:
        section = Section("repro", "Reproducibility matrix")
        section.figures.append(("repro-matrix", figures.repro_matrix_figure(inputs.repro_pairs)))
        section.tables.append(("Pairs", inputs.repro_pairs))
        sections.append(section)
    for label, band in inputs.sweep_bands:
        section = Section(f"sweep-{len(sections)}", f"Seed sweep: convergence band ({label})")
        section.figures.append(
            (f"sweep-band-{len(sections)}", figures.band_figure(band, f"Train loss band, {label}"))
        )
        sections.append(section)
    if inputs.environments:
        sections.append(
            Section(
                "environments",
                "Environments side by side",
                notes=["Rows that differ between machines come first."],
                tables=[("Fingerprints", environment_table(inputs.environments))],
            )
        )
    return sections


def export_images(sections: Sequence[Section], folder: Path) -> tuple[Path, ...]:
    """One PNG per figure through kaleido (which drives a local Chrome/Chromium)."""
    try:
        import kaleido  # noqa: F401  (plotly's image export needs it)
    except ImportError as exc:
        raise OutputError("--png: needs kaleido >= 1.0 (pip install kaleido)") from exc
    import plotly.io as pio

    named = [(name, fig) for s in sections for name, fig in s.figures]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"{name}.png" for name, _ in named]
        pio.write_images([fig for _, fig in named], paths)
    except OSError as exc:
        raise OutputError(f"--png {folder}: cannot be written ({exc.strerror or exc})") from exc
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OutputError(f"--png: image export failed ({first})") from exc
    return tuple(paths)


def write_report(
    inputs: ReportInputs, out: str | Path, png_dir: str | Path | None = None
) -> ReportSummary:
    """Render and write the report atomically (a temp file renamed into place)."""
    sections = build_sections(inputs)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = render_page(
        "linreg report", sections, subtitle=f"Built {stamp} from: {', '.join(inputs.sources)}"
    )
    path = write_text_atomic(Path(out), page)
    images = export_images(sections, Path(png_dir)) if png_dir is not None else ()
    return ReportSummary(
        path=path,
        sections=tuple(s.title for s in sections),
        figures=tuple(name for s in sections for name, _ in s.figures),
        images=images,
    )


def build_report(
    paths: Sequence[str | Path], out: str | Path, png_dir: str | Path | None = None
) -> ReportSummary:
    return write_report(collect_inputs(paths), out, png_dir)
