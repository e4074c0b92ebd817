"""Build the HTML report from result sets: the verdict panel first, then the evidence for each
answer, each part drawn from what the inputs hold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from linreg.env_diff import flatten
from linreg.errors import OutputError
from linreg.report import bench_figures, figures, speed_words
from linreg.report.checks import checks_frame, reached_words, sorted_checks
from linreg.report.colors import series_colors
from linreg.report.comparisons import DEVICE
from linreg.report.environment import differing_keys, environment_table
from linreg.report.functions import function_tables
from linreg.report.inputs import ReportInputs, collect_inputs, run_title
from linreg.report.op_tables import op_tables
from linreg.report.page import Section, render_page
from linreg.report.panel import render_panel
from linreg.report.regression import side
from linreg.report.run_pairs import run_pairs_frame
from linreg.report.speed import samples_words, session_names
from linreg.report.tables import Table
from linreg.report.verdict import Verdicts, verdicts
from linreg.results.ab_result import ROLES, AbResult
from linreg.results.files import write_text_atomic
from linreg.units import NOTHING, data_size, ratio, seconds, si, sig

__all__ = [
    "ReportInputs",
    "ReportSummary",
    "build_report",
    "build_sections",
    "collect_inputs",
    "environment_table",
    "run_title",
    "write_report",
]


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    sections: tuple[str, ...]
    figures: tuple[str, ...]
    images: tuple[Path, ...] = ()
    verdicts: Verdicts | None = None

    @property
    def ok(self) -> bool:
        """What the verdict panel says: False when a check fails or a gating verdict regressed
        (the exit status a job building this report should give)."""
        return self.verdicts is None or self.verdicts.ok


def build_sections(inputs: ReportInputs) -> list[Section]:
    """The evidence, in the order of the panel's questions: reproducibility, speed, regression;
    then the tutorial's figures, the loss curves, sweeps and the environments."""
    plan = inputs.plan
    # The series drawn get the palette's first colours; every series keeps one colour.
    colors = series_colors([*plan.drawn, *plan.order])
    sections = [
        *(_ab_section(index, path, ab) for index, (path, ab) in enumerate(inputs.ab_results)),
        *_repro_sections(inputs),
        *_run_pair_sections(inputs),
        *_bench_sections(inputs, colors),
        *_regression_sections(inputs),
        *_run_sections(inputs),
        *_sweep_sections(inputs),
    ]
    if inputs.environments:
        differ = ["Rows that differ between machines come first, marked ≠."]
        sections.append(
            Section(
                "environments",
                "Environments side by side",
                notes=differ if len(inputs.environments) > 1 else [],
                tables=[("Fingerprints", environment_table(inputs.environments))],
            )
        )
    return sections


def _ab_section(index: int, path: Path, ab: AbResult) -> Section:
    """An A/B's stacks and its numerics run by run: each run of the candidate's repro matrix
    against the same config's run in the reference's, the worst first."""
    notes = []
    for role in ROLES:
        stack = ab.stacks.get(role)
        python, torch, interpreter, root = (
            (stack.python, stack.torch, stack.interpreter, stack.root) if stack else ("?",) * 4
        )
        notes.append(f"{role}: Python {python}, torch {torch} ({interpreter}, checkout {root})")
    numeric = ab.numeric
    notes.append(
        f"Worst level: {numeric.verdict_name}; the A/B took {seconds(ab.seconds)} "
        f"({path.parent.name})."
    )
    section = Section("ab" if index == 0 else f"ab-{index}", "A/B: numerics across the two stacks",
                      notes=notes)  # fmt: skip
    pairs = sorted(numeric.pairs, key=lambda p: (p.level == "a", p.run))
    if pairs:
        table = pd.DataFrame(
            [
                {
                    "run": p.run,
                    "reached": reached_words(p.level, p.horizon),
                    "first difference": NOTHING
                    if p.first_bitwise_difference_epoch is None
                    else f"epoch {p.first_bitwise_difference_epoch}",
                    "final weight (reference, candidate)": ", ".join(
                        sig(w, 7) for w in (p.final_weight or ())
                    ),
                }
                for p in pairs
            ]
        )
        classes = ["fail" if p.level == "d" else "" for p in pairs]
        section.tables.append((f"{len(pairs)} runs, candidate against reference",
                               Table(table, classes, name="ab-pairs")))  # fmt: skip
    return section


def _repro_sections(inputs: ReportInputs) -> list[Section]:
    if not inputs.checks:
        return []
    texts = sorted_checks(inputs.checks)
    section = Section(
        "checks",
        "Reproducibility: every check",
        notes=[
            "Failing checks first. Levels: bit-identical; within tolerance (the dtype's "
            "rtol/atol) over the whole run; within tolerance to an epoch, then the same outcome "
            "(final weight, bias and loss within 3 SGD steps: L1's sign gradient ends SGD in a "
            "limit cycle, so runs that part keep the same outcome, not the same bits)."
        ],
    )
    table = Table(checks_frame(texts), ["" if t.holds else "fail" for t in texts], name="checks")
    pairs = inputs.repro_pairs
    if not pairs.empty:
        section.figures.append(("repro-matrix", figures.repro_matrix_figure(pairs)))
    section.tables.append((f"{len(texts)} checks", table))
    return [section]


def _run_pair_sections(inputs: ReportInputs) -> list[Section]:
    pairs = inputs.run_pairs
    if not pairs:
        return []
    section = Section(
        "runs-compared",
        "Reproducibility: the runs given, compared",
        notes=[
            f"The runs of {inputs.sources[0]} (the reference) and of {inputs.sources[1]}, paired "
            "by config as linreg compare pairs them; each pair needs what its kind needs (the "
            "same config on one stack: bit-identical; another dtype: the same outcome; another "
            "thread count, engine or device: within tolerance as long as its twin), as linreg "
            "repro asks of the same pair."
        ],
    )
    table = Table(run_pairs_frame(pairs), ["" if p.holds else "fail" for p in pairs],
                  name="runs-compared")  # fmt: skip
    section.tables.append((f"{len(pairs)} pair{'s' if len(pairs) != 1 else ''}", table))
    return [section]


def _bench_sections(inputs: ReportInputs, colors: dict[str, str]) -> list[Section]:
    bench = inputs.bench
    if bench is None or bench.empty:
        return []
    plan = inputs.plan
    drawn = bench[bench["series"].isin(plan.drawn)]
    sections = []
    notes = [
        "A series is a session: the processes of one `linreg bench --processes N`, or one side "
        "of an A/B. Its figure is the median of its processes' medians, error bars ± half their "
        "interquartile range; a single process shows its rounds' median ± IQR/2."
    ]
    if len(plan.drawn) < len(plan.order):
        notes.append(
            f"The figures draw {len(plan.drawn)} of the {len(plan.order)} series (those the "
            "panel compares, and each machine's newest); the tables hold every one."
        )
    timings = Section("timings", "Timings: every case", notes=notes)
    timings.figures.append(("timings", bench_figures.timings_figure(drawn, colors)))
    timings.tables.append(("All cases", _cases_table(bench)))
    sections.append(timings)
    ratios = inputs.ratios
    if ratios is not None and not ratios.empty:
        shown = ratios[ratios["reference"].isin(plan.drawn) & ratios["candidate"].isin(plan.drawn)]
        notes, differences = _differences(inputs, shown)
        section = Section(
            "ratios", "Time ratios: GPU against CPU, machine against machine", notes=notes
        )
        if not shown.empty:
            section.figures.append(
                ("speed-ratios", bench_figures.speed_ratio_figure(shown, colors))
            )
        if differences is not None:
            section.tables.append(("What differs between the machines compared", differences))
        section.tables.append((f"Ratios ({ratios['comparison'].nunique()} comparisons)",
                               _ratios_table(ratios)))  # fmt: skip
        sections.append(section)
    sweep = drawn[drawn["kind"] == "epoch"]
    if not sweep.empty:
        section = Section("size-sweep", "Size sweep against the copy-bandwidth roofline")
        section.figures.append(
            ("size-sweep", bench_figures.size_sweep_figure(sweep, colors, _copy_rooflines(drawn)))
        )
        sections.append(section)
    return sections


def _copy_rooflines(bench: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Each series' copy bandwidth per device in GB/s, the figure its copy case shows (from the
    case's median time); a series without a copy case keeps the bandwidth its epoch cases
    recorded."""
    copies = bench[(bench["kind"] == "copy") & bench["gb_per_s"].notna()]
    found = {(str(r.series), str(r.device)): float(r.gb_per_s) for r in copies.itertuples()}
    epochs = bench[(bench["kind"] == "epoch") & bench["copy_gb_per_s"].notna()]
    for (series, device), rows in epochs.groupby(["series", "device"], sort=True):
        found.setdefault((str(series), str(device)), float(rows["copy_gb_per_s"].median()))
    return found


def _differences(inputs: ReportInputs, ratios: pd.DataFrame) -> tuple[list[str], Table | None]:
    """What a ratio between two machines is a ratio of: for each pair compared, the fingerprint
    keys they differ in, named in a note and set side by side in a table."""
    notes = [
        "Wall time across two machines is information, never a gate: it measures the machines "
        "and their stacks together. The ratios table holds every comparison: each session "
        "against its machine's newest baseline, each machine's newest against the first "
        "machine's, and, without a baseline, each session against the one before it."
    ]
    envs = inputs.series_environments
    pairs = ratios[ratios["relation"] != DEVICE][["reference", "candidate"]]
    compared: list[str] = []
    keys: dict[str, None] = {}
    for reference, candidate in pairs.drop_duplicates().itertuples(index=False):
        if reference not in envs or candidate not in envs:
            continue
        diff = differing_keys(envs[reference], envs[candidate])
        notes.append(
            f"{candidate} against {reference}: "
            + (f"they differ in {', '.join(diff)}." if diff else "their fingerprints are alike.")
        )
        compared += [s for s in (reference, candidate) if s not in compared]
        keys.update(dict.fromkeys(diff))
    if not keys:
        return notes, None
    flat = {series: flatten(envs[series]) for series in compared}
    table = pd.DataFrame(
        [{"key": key, **{s: _short(flat[s].get(key)) for s in compared}} for key in keys]
    )
    return notes, Table(table, name="ratio-differences")


def _short(value: object) -> str:
    text = NOTHING if value is None else str(value)
    return text if len(text) <= 48 else text[:45] + "…"


def _cases_table(bench: pd.DataFrame) -> pd.DataFrame:
    rows = bench
    return pd.DataFrame(
        {
            "kind": rows["kind"].astype(str),
            "case": rows["case"],
            "series": rows["series"].astype(str),
            "median": rows["median_s"].map(seconds),
            "± IQR/2": (rows["iqr_s"] / 2).map(lambda v: seconds(v, 2)),
            "samples": [samples_words(row) for _, row in rows.iterrows()],
            "per epoch": (rows["epoch_us"] * 1e-6).map(seconds),
            "samples/s": rows["samples_per_s"].map(lambda v: si(v, "/s")),
            "bandwidth": (rows["gb_per_s"] * 1e9).map(lambda v: si(v, "B/s")),
            "peak memory": rows["peak_bytes"].map(data_size),
        }
    )


def _ratios_table(ratios: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "comparison": ratios["comparison"],
            "relation": ratios["relation"],
            "kind": ratios["kind"],
            "case": ratios["case"],
            "time ratio": ratios["ratio"].map(ratio),
            "candidate": ratios["candidate_s"].map(seconds),
            "reference": ratios["reference_s"].map(seconds),
        }
    )


def _regression_sections(inputs: ReportInputs) -> list[Section]:
    sections = []
    names = session_names(inputs.bench) if inputs.bench is not None else {}
    for index, (source, verdict) in enumerate(inputs.speed_verdicts):
        candidate, reference = side(verdict, "candidate", names), side(verdict, "reference", names)
        section = Section(
            f"regression-{index}",
            f"Regression gate: {verdict.verdict}",
            notes=[f"{candidate} against {reference} ({source}).",
                   speed_words.summary(verdict), *speed_words.notes(verdict)],
        )  # fmt: skip
        cases = pd.DataFrame(
            [
                {
                    "verdict": speed_words.case_words(case),
                    "case": case.case,
                    "metric": case.metric,
                    "ratio": ratio(case.ratio),
                    "interval": "" if not case.ci else f"[{sig(case.ci[0])}, {sig(case.ci[1])}]",
                    "p": sig(case.p, 2),
                    "processes": "" if not any(case.samples) else
                    f"{case.samples[0]} vs {case.samples[1]}",
                    "noise floor": NOTHING if case.noise_floor is None
                    else f"{case.noise_floor:.0%}",
                }
                for case in verdict.cases
            ]
        )  # fmt: skip
        if not cases.empty:
            slower = cases["verdict"].str.startswith("slower")
            cases = pd.concat([cases[slower], cases[~slower]])
            classes = ["fail" if s else "" for s in slower.loc[cases.index]]
            section.tables.append(("Cases, slower first", Table(cases, classes)))
        section.tables += op_tables(verdict)  # which ops changed, then where instructions went
        section.tables += function_tables(verdict)
        sections.append(section)
    return sections


def _run_sections(inputs: ReportInputs) -> list[Section]:
    if not inputs.runs:
        return []
    # The tutorial's figures come from a `linreg train` run folder when the inputs hold one.
    label, run = next(
        ((lbl, r) for lbl, r in inputs.runs if lbl in inputs.train_runs), inputs.runs[0]
    )
    # torch, for the model's predictions, only here: a report of bench sets alone needs none.
    from linreg.data import make_dataset
    from linreg.model import model_from_state, predict
    from linreg.report.tutorial_figures import tutorial_figures
    from linreg.state import state_from_json

    state = state_from_json(run.final_state)
    model = model_from_state(state)
    data = make_dataset(run.config, device="cpu")
    tutorial = Section(
        "tutorial",
        "The tutorial's figures",
        notes=[
            f"From {label}: weight {run.final_weight:.6g} "
            f"(true {run.config.weight:g}), bias {run.final_bias:.6g} "
            f"(true {run.config.bias:g})."
        ],
    )
    names = ("tutorial-data", "tutorial-predictions", "tutorial-loss")
    tutorial.figures.extend(
        zip(names, tutorial_figures(data, predict(model, data.X_test), run.history), strict=True)
    )
    curves = Section(
        "loss-curves",
        "Loss curves across devices, dtypes, seeds and engines",
        notes=["Runs whose train losses are bit-identical share one line, named in its legend."],
    )
    curves.figures.append(
        (
            "loss-overlay",
            figures.loss_curves_figure(
                [(lbl, r.history) for lbl, r in inputs.runs], "Train loss per epoch"
            ),
        )
    )
    final = pd.DataFrame(
        [
            {
                "run": lbl,
                "weight": sig(r.final_weight, 6),
                "bias": sig(r.final_bias, 6),
                "final train loss": sig(r.history.train_loss[-1], 4),
                "train time": seconds(r.timings.get("train_seconds")),
            }
            for lbl, r in sorted(inputs.runs, key=lambda item: item[0])
        ]
    )
    curves.tables.append(("Final parameters", final))
    return [tutorial, curves]


def _sweep_sections(inputs: ReportInputs) -> list[Section]:
    sections = []
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
        quantiles = pd.DataFrame(sweep.quantiles).T.map(lambda v: sig(v, 4))
        section.tables.append(("Quantiles over members", quantiles.rename_axis("").reset_index()))
        sections.append(section)
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
    answers = verdicts(inputs)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = render_page(
        "linreg report",
        sections,
        subtitle=f"Built {stamp} from: {', '.join(inputs.sources)}",
        panel=render_panel(answers),
    )
    # Images first: if their export fails, the report already on disk is left as it was.
    images = export_images(sections, Path(png_dir)) if png_dir is not None else ()
    path = write_text_atomic(Path(out), page)
    return ReportSummary(
        path=path,
        sections=tuple(s.title for s in sections),
        figures=tuple(name for s in sections for name, _ in s.figures),
        images=images,
        verdicts=answers,
    )


def build_report(
    paths: Sequence[str | Path], out: str | Path, png_dir: str | Path | None = None
) -> ReportSummary:
    return write_report(collect_inputs(paths), out, png_dir)
