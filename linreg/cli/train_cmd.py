"""`linreg train` and `linreg evaluate`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from linreg import units
from linreg.cli import app
from linreg.cli.console import console, say
from linreg.cli.progress import tracked
from linreg.config import DTYPES, ENGINES, LOSSES, OPTIMIZERS, TrainConfig

_DEFAULT = TrainConfig()


@app.command("train")
def train_command(
    seed: int = typer.Option(_DEFAULT.seed, help="Seed set before the model is built."),
    lr: float = typer.Option(_DEFAULT.lr, help="Learning rate, > 0."),
    epochs: int = typer.Option(_DEFAULT.epochs, help="Training epochs, >= 1."),
    eval_every: int = typer.Option(
        _DEFAULT.eval_every, help="Evaluate the test loss every N epochs (from epoch 0), >= 1."
    ),
    train_fraction: float = typer.Option(
        _DEFAULT.train_fraction, help="Share of samples used for training, in (0, 1)."
    ),
    device: str = typer.Option(_DEFAULT.device, help="cpu, cuda, cuda:N, mps or auto."),
    dtype: str = typer.Option(_DEFAULT.dtype, help=f"One of: {', '.join(DTYPES)}."),
    engine: str = typer.Option(_DEFAULT.engine, help=f"One of: {', '.join(ENGINES)}."),
    loss: str = typer.Option(_DEFAULT.loss, help=f"Loss function, one of: {', '.join(LOSSES)}."),
    optimizer: str = typer.Option(_DEFAULT.optimizer, help=f"One of: {', '.join(OPTIMIZERS)}."),
    weight: float = typer.Option(_DEFAULT.weight, help="True weight of the line the data follows."),
    bias: float = typer.Option(_DEFAULT.bias, help="True bias of the line the data follows."),
    start: float = typer.Option(_DEFAULT.start, help="First x of the data (arange start)."),
    stop: float = typer.Option(_DEFAULT.stop, help="End of the data's x range (exclusive)."),
    step: float = typer.Option(_DEFAULT.step, help="Spacing of x (arange step)."),
    samples: int | None = typer.Option(
        None, help="Use this many evenly spaced samples on [start, stop) instead of --step."
    ),
    deterministic: bool = typer.Option(
        _DEFAULT.deterministic,
        "--deterministic/--no-deterministic",
        help="Deterministic algorithms, cuDNN deterministic, TF32 off, fixed cuBLAS workspace.",
    ),
    threads: int | None = typer.Option(
        None, help="torch intra-op threads for the run (default: torch's own choice)."
    ),
    out: Path | None = typer.Option(
        None,
        help="Run folder to create (must not exist or be empty). "
        "Default: a new results/runs/<run-id>/.",
    ),
) -> None:
    """Train the tutorial's model; write run.json, history.csv, model.pth and plots.html."""
    config = TrainConfig(
        weight=weight,
        bias=bias,
        start=start,
        stop=stop,
        step=step,
        train_fraction=train_fraction,
        samples=samples,
        loss=loss,
        optimizer=optimizer,
        lr=lr,
        epochs=epochs,
        eval_every=eval_every,
        seed=seed,
        device=device,
        dtype=dtype,
        engine=engine,
        deterministic=deterministic,
        threads=threads,
    )
    table = Table(title=f"Training (seed {seed}, {device}, {dtype}, {engine})")
    for column in ("Epoch", "Train Loss", "Test Loss"):
        table.add_column(column, justify="right")

    from linreg.jobs.training import DEFAULT_RESULTS, train_to_folder  # imports torch

    with tracked("train: epochs") as tracker:

        def on_eval(epoch: int, train_loss: float, test_loss: float) -> None:
            table.add_row(str(epoch), f"{train_loss:.8g}", f"{test_loss:.8g}")
            tracker.update(epoch + 1, config.epochs)

        outcome = train_to_folder(
            config, out_dir=out, results_root=DEFAULT_RESULTS, on_eval=on_eval
        )
    console.print(table)
    run = outcome.run
    summary = Table(show_header=True, title="Learned parameters")
    summary.add_column("parameter")
    summary.add_column("learned", justify="right")
    summary.add_column("true", justify="right")
    summary.add_row("weight", f"{run.final_weight:.8g}", f"{run.config.weight:g}")
    summary.add_row("bias", f"{run.final_bias:.8g}", f"{run.config.bias:g}")
    console.print(summary)
    epoch = units.seconds(run.timings["epoch_us"] * 1e-6)
    say(
        f"train time {units.seconds(run.timings['train_seconds'])} ({epoch}/epoch); "
        f"state hash {run.state_hash[:16]}"
    )
    if not outcome.plots:
        say("plotly is not installed: plots.html was not written")
    say(f"run folder: {outcome.folder}")
    say(f"train: OK: weight {run.final_weight:.6g}, bias {run.final_bias:.6g}")


@app.command("evaluate")
def evaluate_command(
    checkpoint: Path = typer.Argument(
        ..., help="A model.pth written by linreg train (a state_dict), or its run folder."
    ),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N, mps or auto."),
    loss: str | None = typer.Option(
        None, help=f"Loss to report, one of: {', '.join(LOSSES)} (default: the run's, else l1)."
    ),
    train_fraction: float | None = typer.Option(
        None, help="Split that defines the test samples, in (0, 1) (default: the run's, else 0.8)."
    ),
) -> None:
    """Test loss and predictions of a saved model on its run's test split (the run.json beside
    the checkpoint), or on the tutorial's where there is none."""
    from linreg.jobs.training import evaluate_checkpoint, evaluation_config  # imports torch
    from linreg.results.run_folder import CHECKPOINT

    if checkpoint.is_dir():
        checkpoint = checkpoint / CHECKPOINT

    config = evaluation_config(checkpoint, device, loss, train_fraction)
    result = evaluate_checkpoint(checkpoint, config)
    table = Table(title=f"{result.checkpoint} ({result.dtype})")
    for column in ("x", "y (true)", "prediction"):
        table.add_column(column, justify="right")
    for x, y, p in zip(result.X_test, result.y_test, result.predictions, strict=True):
        table.add_row(f"{x:.4g}", f"{y:.6g}", f"{p:.6g}")
    console.print(table)
    say(
        f"weight {result.weight:.8g} (true {config.weight:g}), "
        f"bias {result.bias:.8g} (true {config.bias:g}), "
        f"test {config.loss} loss {result.test_loss:.8g}"
    )
    samples = len(result.X_test)
    say(f"evaluate: OK: test {config.loss} loss {result.test_loss:.6g} on {samples} samples")
