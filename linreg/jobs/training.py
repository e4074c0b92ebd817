"""Training to a run folder and evaluating a checkpoint: `linreg train` and `linreg evaluate`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.engines import train
from linreg.engines.observe import EvalCallback
from linreg.engines.resumable import resume, train_until
from linreg.errors import OutputError
from linreg.model import make_loss_fn, model_from_state, predict
from linreg.numerics import resolve, resolve_device
from linreg.paths import results_root as default_results
from linreg.results import kinds
from linreg.results.checkpoint import load_model
from linreg.results.files import check_new_folder, check_writable
from linreg.results.load import load_run
from linreg.results.run_folder import new_run_id, write_run_folder
from linreg.results.training_checkpoint import (
    check_resumes,
    load_training_checkpoint,
    save_training_checkpoint,
)
from linreg.run import Run
from linreg.state import state_from_json
from linreg.training_state import TrainingState

RUNS = "runs"
CHECKPOINTS = "checkpoints"


@dataclass(frozen=True)
class TrainOutcome:
    run: Run
    folder: Path
    plots: bool


@dataclass(frozen=True)
class Evaluation:
    checkpoint: Path
    dtype: str
    weight: float
    bias: float
    test_loss: float
    X_test: tuple[float, ...]
    y_test: tuple[float, ...]
    predictions: tuple[float, ...]


def train_to_folder(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    results_root: str | Path | None = None,
    on_eval: EvalCallback | None = None,
    resume_from: TrainingState | None = None,
) -> TrainOutcome:
    """Train (or finish the run of ``resume_from``), then write the run folder (run.json,
    history.csv, model.pth, plots.html).

    The output location is checked before training so that bad input costs no training time.
    """
    results_root = default_results() if results_root is None else results_root
    if out_dir is not None:
        check_new_folder(Path(out_dir))
    else:
        check_writable(Path(results_root) / RUNS / "run")
    if resume_from is None:
        run = train(config, on_eval=on_eval)
    else:
        # The record says it was finished from a checkpoint, and which (a state taken in this
        # process has no file to name).
        run = dataclasses.replace(resume(resume_from, on_eval=on_eval),
                                  resumed_from=resume_from.source)  # fmt: skip
    state = state_from_json(run.final_state)
    folder = Path(out_dir) if out_dir is not None else Path(results_root) / RUNS / new_run_id(run)
    extra: dict[str, str] = {}
    plots_html = _tutorial_plots(run, state)
    if plots_html is not None:
        extra["plots.html"] = plots_html
    write_run_folder(run, state, folder, extra)
    return TrainOutcome(run=run, folder=folder, plots=plots_html is not None)


def open_checkpoint(path: str | Path, given: Mapping[str, Any]) -> TrainingState:
    """A training checkpoint to resume, refused unless every option ``given`` again (a config
    field and its value) is as the checkpoint's run had it."""
    state = load_training_checkpoint(path)
    check_resumes(state, resolve(state.config.replace(**given)), path)
    return state


def stop_to_checkpoint(
    config: TrainConfig,
    stop_at: int,
    checkpoint: str | Path | None = None,
    results_root: str | Path | None = None,
    on_eval: EvalCallback | None = None,
    resume_from: TrainingState | None = None,
) -> Path:
    """Train to epoch ``stop_at`` (from ``resume_from``'s, or 0) and write a training checkpoint:
    to ``checkpoint``, else a new results/checkpoints/<run-id>-epoch<K>.pt. The path is checked
    before training."""
    config = resolve(config)
    results_root = default_results() if results_root is None else results_root
    if checkpoint is not None:
        path = Path(checkpoint)
        if path.exists():
            raise OutputError(f"--checkpoint {path}: already exists; results are never overwritten")
    else:
        c = config
        name = (
            f"{kinds.utc_stamp()}-{c.engine}-{c.device.replace(':', '')}-{c.dtype}"
            f"-seed{c.seed}-{c.config_id[:8]}-epoch{stop_at}.pt"
        )
        path = Path(results_root) / CHECKPOINTS / name
    check_writable(path, "--checkpoint")
    state = train_until(config, stop_at, resume_from=resume_from, on_eval=on_eval)
    return save_training_checkpoint(state, path)


def _tutorial_plots(run: Run, state: Mapping[str, torch.Tensor]) -> str | None:
    try:
        import plotly  # noqa: F401
    except ImportError:  # a checkout run without installing (e.g. on a GPU box) may lack it
        return None
    from linreg.report.tutorial_figures import figures_page, tutorial_figures

    data = make_dataset(run.config, device="cpu")
    predictions = predict(model_from_state(state), data.X_test)
    c = run.config
    title = f"linreg run: seed {c.seed}, {c.device}, {c.dtype}, {c.engine}"
    return figures_page(tutorial_figures(data, predictions, run.history), title)


def evaluation_config(
    checkpoint: str | Path, device: str, loss: str | None, train_fraction: float | None
) -> TrainConfig:
    """The data, split and loss to evaluate with: those of the run.json beside the checkpoint
    when there is one (a run trained on other data is judged on its own data), else the
    tutorial's; ``loss`` and ``train_fraction`` override either."""
    record = Path(checkpoint).parent / kinds.RUN_FILE
    base = load_run(record).config if record.is_file() else TrainConfig()
    changes: dict[str, object] = {"device": device}
    if loss is not None:
        changes["loss"] = loss
    if train_fraction is not None:
        changes["train_fraction"] = train_fraction
    return base.replace(**changes)


def evaluate_checkpoint(path: str | Path, config: TrainConfig) -> Evaluation:
    """Test loss and predictions of a saved model on the config's test split."""
    device = resolve_device(config.device)
    model = load_model(path, device=device)
    dtype = str(model.linear.weight.dtype).removeprefix("torch.")
    data = make_dataset(config.replace(dtype=dtype), device=device)
    predictions = predict(model, data.X_test)
    with torch.inference_mode():
        test_loss = make_loss_fn(config)(predictions, data.y_test).item()

    def values(t: torch.Tensor) -> tuple[float, ...]:
        return tuple(t.to("cpu", torch.float64).reshape(-1).tolist())

    return Evaluation(
        checkpoint=Path(path),
        dtype=dtype,
        weight=model.linear.weight.item(),
        bias=model.linear.bias.item(),
        test_loss=test_loss,
        X_test=values(data.X_test),
        y_test=values(data.y_test),
        predictions=values(predictions),
    )
