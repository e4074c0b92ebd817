"""`linreg train` and `linreg evaluate`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from linreg import units
from linreg.cli import app, option_name
from linreg.cli.console import console, say
from linreg.cli.progress import tracked
from linreg.config import DTYPES, ENGINES, LOSSES, OPTIMIZERS, TrainConfig
from linreg.errors import ConfigError

_DEFAULT = TrainConfig()


# The options that say the tutorial's data, model and training: a target sets its own.
TUTORIAL_ONLY = (
    "weight", "bias", "start", "stop", "step", "train_fraction", "samples", "loss", "optimizer",
    "lr", "momentum", "epochs", "eval_every",
)  # fmt: skip
TARGET_ONLY = ("size", "steps")


@app.command("train")
def train_command(
    ctx: typer.Context,
    target: str | None = typer.Option(
        None,
        metavar="SPEC",
        help="What to train: FILE.py:NAME, package.module:NAME, or a target shipped with linreg "
        "(mlp, cnn, chargpt; tutorial, the default). A target other than the tutorial writes a "
        "run folder of its own kind and takes --size and --steps; the tutorial's options "
        "(--lr, --epochs, its data's) are the tutorial's only. See `linreg target new`.",
    ),
    size: str | None = typer.Option(
        None,
        help="A target's size: ci (small, for tests), full (the default where the target "
        "declares it), or another it declares.",
    ),
    steps: int | None = typer.Option(
        None, help="A target's training steps, >= 1 (default: its size's)."
    ),
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
    optimizer: str = typer.Option(
        _DEFAULT.optimizer,
        help=f"One of: {', '.join(OPTIMIZERS)}: torch.optim's SGD (the tutorial's) or Adam (with "
        "--lr, torch's default betas and eps). Other than plain SGD: the eager engine only.",
    ),
    momentum: float = typer.Option(
        _DEFAULT.momentum,
        help="SGD's momentum, in [0, 1): 0 is the tutorial's plain SGD; SGD then keeps a "
        "momentum buffer per parameter. Not with adam.",
    ),
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
    stop_at: int | None = typer.Option(
        None,
        help="Stop after this many epochs (a target's: steps) and write a training checkpoint "
        "(model, optimizer and scheduler state, every random generator, a target's data "
        "position, history so far) instead of a run folder; finish it with --resume-from. "
        "Eager engine.",
    ),
    checkpoint: Path | None = typer.Option(
        None,
        help="Where --stop-at writes the checkpoint (must not exist). Default: a new file in "
        "results/checkpoints/.",
    ),
    resume_from: Path | None = typer.Option(
        None,
        help="Finish the run of a checkpoint written by --stop-at: the same run, bit for bit, as "
        "an uninterrupted one. Its options are the checkpoint's; any given again must be as "
        "they were.",
    ),
) -> None:
    """Train the tutorial's model (or a --target); write run.json, history.csv, model.pth and
    plots.html (or, with --stop-at, a training checkpoint that --resume-from finishes)."""
    from linreg.target_loading import is_tutorial

    given = [name for name in ctx.params if _given(ctx, name)]
    if not is_tutorial(target) or _is_target_checkpoint(resume_from):
        for name in TUTORIAL_ONLY:
            if name in given:
                what = f"--target {target}" if target else "a target's checkpoint"
                raise ConfigError(name, f"is the tutorial's; {what} sets its own")
        from linreg.cli.train_target import train_target_command

        train_target_command(
            ctx, None if is_tutorial(target) else target, size, steps, seed, device, dtype,
            engine, deterministic, threads, out, stop_at, checkpoint, resume_from, given,
        )  # fmt: skip
        return
    for name in TARGET_ONLY:
        if name in given:
            raise ConfigError(name, "is a target's (--target SPEC); the tutorial trains --epochs")
    if out is not None and stop_at is not None:
        raise ConfigError("out", "names a finished run's folder; --stop-at writes a checkpoint "
                          "(--checkpoint PATH)")  # fmt: skip
    if checkpoint is not None and stop_at is None:
        raise ConfigError("checkpoint", "is where --stop-at writes; give --stop-at EPOCH too")
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
        momentum=momentum,
        epochs=epochs,
        eval_every=eval_every,
        seed=seed,
        device=device,
        dtype=dtype,
        engine=engine,
        deterministic=deterministic,
        threads=threads,
    )
    from linreg.jobs.training import (  # imports torch
        open_checkpoint,
        stop_to_checkpoint,
        train_to_folder,
    )

    state = None
    if resume_from is not None:
        # The options given again: those the checkpoint's config must already have.
        again = {name: ctx.params[name] for name in TrainConfig().to_dict() if name in given}
        state = open_checkpoint(resume_from, again)
        config = state.config
    c = config
    table = Table(title=f"Training (seed {c.seed}, {c.device}, {c.dtype}, {c.engine})")
    for column in ("Epoch", "Train Loss", "Test Loss"):
        table.add_column(column, justify="right")

    with tracked("train: epochs") as tracker:

        def on_eval(epoch: int, train_loss: float, test_loss: float) -> None:
            table.add_row(str(epoch), f"{train_loss:.8g}", f"{test_loss:.8g}")
            tracker.update(epoch + 1, config.epochs)

        if stop_at is not None:
            written = stop_to_checkpoint(
                config, stop_at, checkpoint, None, on_eval, resume_from=state
            )
        else:
            outcome = train_to_folder(
                config, out_dir=out, on_eval=on_eval,
                resume_from=state,
            )  # fmt: skip
    console.print(table)
    if stop_at is not None:
        say(f"checkpoint: {written}")
        say(f"train: stopped at epoch {stop_at} of {config.epochs}; finish with "
            f"linreg train {option_name('resume_from')} {written}")  # fmt: skip
        return
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


def _given(ctx: typer.Context, name: str) -> bool:
    return getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"


def _is_target_checkpoint(path: Path | None) -> bool:
    """Whether --resume-from names a target's training checkpoint (which the target's path
    finishes without --target)."""
    if path is None:
        return False
    from linreg.results.target_checkpoint import is_target_checkpoint  # imports torch

    return is_target_checkpoint(path)


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
