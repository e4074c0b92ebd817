"""`linreg train --target SPEC`: a target trained into a run folder; with --stop-at, to a
training checkpoint; with --resume-from, a checkpoint's run finished."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from linreg import units
from linreg.cli import option_name
from linreg.cli.console import console, say
from linreg.cli.progress import tracked
from linreg.errors import ConfigError

# The options a checkpoint's run already has: given again with --resume-from, each must be as
# it was (the config's field each one sets).
_RESUMED_FIELDS = {"size": "size", "steps": "steps", "seed": "seed", "device": "device",
                   "dtype": "dtype", "engine": "engine", "deterministic": "deterministic",
                   "threads": "threads", "target": "spec"}  # fmt: skip


def train_target_command(
    ctx: typer.Context,
    spec: str | None,
    size: str | None,
    steps: int | None,
    seed: int,
    device: str,
    dtype: str,
    engine: str,
    deterministic: bool,
    threads: int | None,
    out: Path | None,
    stop_at: int | None,
    checkpoint: Path | None,
    resume_from: Path | None,
    given: list[str],
) -> None:
    """Parse the options into a TargetConfig (or take a checkpoint's), train, say the result."""
    if out is not None and stop_at is not None:
        raise ConfigError("out", "names a finished run's folder; --stop-at writes a checkpoint "
                          "(--checkpoint PATH)")  # fmt: skip
    if checkpoint is not None and stop_at is None:
        raise ConfigError("checkpoint", "is where --stop-at writes; give --stop-at STEP too")
    from linreg.jobs.target_checkpointing import (  # imports torch
        open_target_checkpoint,
        resume_target_to_folder,
        stop_target_to_checkpoint,
    )
    from linreg.jobs.target_training import train_target_to_folder
    from linreg.target_config import TargetConfig
    from linreg.target_loading import load_target

    state = None
    target = None
    if resume_from is not None:
        again = {field: (spec if name == "target" else ctx.params[name])
                 for name, field in _RESUMED_FIELDS.items() if name in given}  # fmt: skip
        state = open_target_checkpoint(resume_from, again)
        config = state.config
    else:
        if spec is None:
            raise ConfigError("target", "give --target SPEC")
        target, ref = load_target(spec)
        config = TargetConfig(
            target=ref,
            size=size or target.default_size(),
            seed=seed,
            device=device,
            dtype=dtype,
            engine=engine,
            threads=threads,
            deterministic=deterministic,
            steps=steps,
        )
    ref = config.target
    total = config.steps or (target.sizes.get(config.size, {}).get("steps") if target else None)
    table = Table(title=f"{ref.name} ({config.size}, {config.dtype})")
    for column in ("Step", "Train Loss", "Eval Loss"):
        table.add_column(column, justify="right")
    with tracked(f"train: {ref.name} steps") as tracker:

        def on_eval(step: int, train_loss: float, eval_loss: float | None) -> None:
            shown = "" if eval_loss is None else f"{eval_loss:.8g}"
            table.add_row(str(step), f"{train_loss:.8g}", shown)
            tracker.update(step + 1, total)

        if stop_at is not None:
            written = stop_target_to_checkpoint(config, target, stop_at, checkpoint, None,
                                                on_eval, resume_from=state)  # fmt: skip
        elif state is not None:
            run, folder = resume_target_to_folder(state, out, on_eval=on_eval)
        else:
            run, folder = train_target_to_folder(config, target, out_dir=out, on_eval=on_eval)
    console.print(table)
    if stop_at is not None:
        say(f"checkpoint: {written}")
        say(f"train: stopped at step {stop_at} of {total}; finish with "
            f"linreg train {option_name('resume_from')} {written}")  # fmt: skip
        return
    t = run.timings
    compiled = "" if t.compile_seconds is None else f"; compile {units.seconds(t.compile_seconds)}"
    say(
        f"{run.parameter_count:,} parameters; train time {units.seconds(t.train_seconds)} "
        f"({units.seconds(t.step_us * 1e-6)}/step over {t.timed_steps} steps){compiled}; "
        f"state hash {run.state_hash[:16]}"
    )
    c = run.config
    say(f"target: {ref.spec} (code {ref.short_hash}); seed {c.seed}, {c.device}, {c.engine}")
    if run.resumed_from is not None:
        say(f"resumed from: {run.resumed_from.checkpoint} (step {run.resumed_from.epoch})")
    say(f"run folder: {folder}")
    last = f"eval loss {run.eval_loss[-1]:.6g}" if run.eval_loss else "no eval data"
    say(f"train: OK: {ref.name} trained {run.steps} steps; train loss {run.train_loss[-1]:.6g}, "
        f"{last}")  # fmt: skip
