"""Build the HTML report from result sets: collect what the inputs hold, then draw each part."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from linreg.data import make_dataset
from linreg.env_diff import diff_environments, flatten
from linreg.errors import ConfigError, OutputError, ResultSetError
from linreg.machine import default_machine_name
from linreg.model import model_from_state, predict
from linreg.report import figures
from linreg.report.frames import bench_frame
from linreg.report.page import Section, render_page
from linreg.report.tutorial_figures import tutorial_figures
from linreg.results import kinds
from linreg.results.bench_file import BenchFile
from linreg.results.files import write_text_atomic
from linreg.results.load import LoadedResult, load_result
from linreg.results.resultset import run_label
from linreg.results.sweep_record import Sweep
from linreg.results.walk import expand
from linreg.run import Run
from linreg.state import state_from_json


@dataclass
class ReportInputs:
    """Everything the report draws, already loaded from disk."""

    runs: list[tuple[str, Run]] = field(default_factory=list)
    train_runs: set[str] = field(default_factory=set)  # labels of runs from `linreg train`
    bench: pd.DataFrame | None = None
    repro_pairs: pd.DataFrame | None = None
    sweeps: list[tuple[str, Sweep]] = field(default_factory=list)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    sections: tuple[str, ...]
    figures: tuple[str, ...]
    images: tuple[Path, ...] = ()


def collect_inputs(paths: Sequence[str | Path]) -> ReportInputs:
    """Load every result the given files and folders hold (folders recursively, through the one
    walker): run records, repro checks, sweeps and pytest-benchmark files. Anything else
    (manifests, JSON of other tools) is passed over."""
    inputs = ReportInputs()
    bench_files: list[BenchFile] = []
    seen_runs: set[tuple[str, str]] = set()
    for raw in paths:
        path = Path(raw)
        found = False
        for file in expand(path):
            loaded = load_result(file)
            if loaded is not None and _add_result(inputs, loaded, bench_files, seen_runs):
                found = True
        if not found:
            raise ResultSetError(f"{path}: holds no linreg result (run, repro, sweep or benchmark)")
        inputs.sources.append(str(path))
    if bench_files:
        inputs.bench = bench_frame(bench_files)
    return inputs


def _add_result(
    inputs: ReportInputs,
    loaded: LoadedResult,
    bench_files: list[BenchFile],
    seen_runs: set[tuple[str, str]],
) -> bool:
    """Add what one result file holds to ``inputs``; False for kinds the report does not draw."""
    kind, value = loaded.kind, loaded.value
    if kind == kinds.BENCH:
        bench_files.append(value)
        inputs.environments.setdefault(
            _machine_label(value.environment, value.machine), value.environment
        )
    elif kind in kinds.RUN_KINDS:
        run = value
        if kind == kinds.RUN:
            inputs.train_runs.add(_run_label(run))
        # A repro set holds each config twice (two processes); draw it once.
        if (run.config.config_id, run.state_hash) not in seen_runs:
            seen_runs.add((run.config.config_id, run.state_hash))
            inputs.runs.append((_run_label(run), run))
            inputs.environments.setdefault(_machine_label(run.environment), run.environment)
    elif kind == kinds.SWEEP:
        inputs.sweeps.append((_sweep_label(value, loaded.path), value))
    elif kind == kinds.REPRO_CHECKS:
        frame = repro_pairs(value)
        inputs.repro_pairs = (
            pd.concat([inputs.repro_pairs, frame], ignore_index=True)
            if inputs.repro_pairs is not None
            else frame
        )
    else:
        return False
    return True


def repro_pairs(checks: dict[str, Any]) -> pd.DataFrame:
    """Determinism and consistency checks of a repro set as pairs for the matrix figure;
    a determinism check is a config against itself, so it lands on the diagonal."""
    rows = []
    for check in checks.get("checks", []):
        comparison = check.get("comparison")
        if check.get("kind") not in ("determinism", "consistency") or not comparison:
            continue
        quantities = comparison.get("quantities", {}).values()
        rel = [q["max_rel"] for q in quantities if isinstance(q.get("max_rel"), (int, float))]
        rows.append(
            {
                "a": comparison["candidate"],
                "b": comparison["candidate"]
                if check["kind"] == "determinism"
                else comparison["reference"],
                "check": check["kind"],
                "level": comparison["level"],
                "bitwise": comparison["level"] == "a",
                "max_rel_diff": max(rel, default=float("inf")),
                "max_ulp": max((q.get("max_ulp") or 0 for q in quantities), default=0),
                "horizon": comparison.get("horizon"),
                "holds": check["holds"],
            }
        )
    return pd.DataFrame(rows)


def _sweep_label(sweep: Sweep, file: Path) -> str:
    axes = f"{len(sweep.seeds)} seeds" + (f" × {len(sweep.lrs)} lrs" if len(sweep.lrs) > 1 else "")
    return f"{axes}, {sweep.config.dtype} on {sweep.config.device} ({file.name})"


def _run_label(run: Run) -> str:
    return f"{run.config.device} {run_label(run)}"


def _machine_label(environment: dict[str, Any], name: str | None = None) -> str:
    """One column per machine and torch: bench files and runs of one machine share it."""
    if name is None:
        try:
            name = default_machine_name(
                environment.get("cpu") or "",
                environment.get("cpu_count"),
                list(environment.get("gpus") or []),
            )
        except ConfigError:
            name = str(environment.get("cpu", "unknown"))
    return f"{name} / torch {environment.get('torch', '?')}"


def environment_table(environments: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One column per machine; rows that differ between machines come first, marked."""
    labels = list(environments)
    flat = {label: flatten(env) for label, env in environments.items()}
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


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def build_sections(inputs: ReportInputs) -> list[Section]:
    sections: list[Section] = []
    if inputs.runs:
        # The tutorial's figures come from a `linreg train` run folder when the inputs hold one.
        label, run = next(
            ((lbl, r) for lbl, r in inputs.runs if lbl in inputs.train_runs), inputs.runs[0]
        )
        state = state_from_json(run.final_state)
        model = model_from_state(state)
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
    for index, (label, sweep) in enumerate(inputs.sweeps):
        band = pd.DataFrame(
            {
                "epoch": range(len(sweep.band["median"])),
                "p5": sweep.band["p05"],
                "median": sweep.band["median"],
                "p95": sweep.band["p95"],
            }
        )
        section = Section(
            f"sweep-{index}",
            f"Sweep: convergence band ({label})",
            notes=[
                f"{sweep.share_within_tolerance:.1%} of members end within "
                f"{sweep.tolerance:g} of the true weight and bias."
            ],
        )
        section.figures.append(
            (f"sweep-band-{index}", figures.band_figure(band, f"Train loss band, {label}"))
        )
        section.tables.append(("Quantiles over members", pd.DataFrame(sweep.quantiles).T))
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
    # Images first: if their export fails, the report already on disk is left as it was.
    images = export_images(sections, Path(png_dir)) if png_dir is not None else ()
    path = write_text_atomic(Path(out), page)
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
