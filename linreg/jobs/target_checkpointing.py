"""A target's run stopped at a step and finished later: `linreg train --target X --stop-at K`
writes a training checkpoint, `--resume-from CKPT` finishes the run (bit for bit the
uninterrupted one) into a run folder whose run.json says where it took up."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from linreg.engines.target_loop import TargetEvalCallback, prepare_target
from linreg.errors import CheckpointError, ConfigError, OutputError
from linreg.jobs.target_training import RUNS
from linreg.paths import results_root as default_results
from linreg.results import kinds
from linreg.results.files import check_new_folder, check_writable
from linreg.results.target_checkpoint import load_target_checkpoint, save_target_checkpoint
from linreg.results.target_run_folder import new_target_run_id, write_target_run_folder
from linreg.target import Target
from linreg.target_config import TargetConfig
from linreg.target_loading import check_runs_here
from linreg.target_run import TargetRun
from linreg.target_state import TargetTrainingState

CHECKPOINTS = "checkpoints"


def open_target_checkpoint(path: str | Path, given: Mapping[str, Any]) -> TargetTrainingState:
    """A target checkpoint to finish, refused unless every option ``given`` again (a config
    field and its value, ``spec`` for --target) is as the checkpoint's run had it."""
    state = load_target_checkpoint(path)
    stored = state.config
    differing = []
    for name, value in given.items():
        was = stored.target.spec if name == "spec" else getattr(stored, name)
        if name == "device" and value == "auto":
            continue
        if value != was:
            option = "target" if name == "spec" else name
            differing.append(f"{option} {value!r} here, {was!r} in the checkpoint")
    if differing:
        raise CheckpointError(f"{path}: a checkpoint of another config ({'; '.join(differing)});"
                              " resume with the options it was written with")  # fmt: skip
    return state


def stop_target_to_checkpoint(
    config: TargetConfig,
    target: Target | None,
    stop_at: int,
    checkpoint: str | Path | None = None,
    results_root: str | Path | None = None,
    on_eval: TargetEvalCallback | None = None,
    resume_from: TargetTrainingState | None = None,
) -> Path:
    """Train to step ``stop_at`` (from ``resume_from``'s, or 0) and write a target training
    checkpoint: to ``checkpoint``, else a new results/checkpoints/<...>-step<K>.pt. The path
    and the engine are checked before training."""
    if config.engine != "eager":
        raise ConfigError("engine", f"stopping at a step and resuming run on the eager engine "
                          f"only, got {config.engine}")  # fmt: skip
    results_root = default_results() if results_root is None else results_root
    if checkpoint is not None:
        path = Path(checkpoint)
        if path.exists():
            raise OutputError(f"--checkpoint {path}: already exists; results are never overwritten")
    else:
        # Named by the resolved config, as the run folder it finishes into is.
        c = (
            config
            if target is None or config.steps
            else config.replace(steps=target.sizes.get(config.size, {}).get("steps"))
        )
        name = (f"{kinds.utc_stamp()}-{c.target.name}-{c.target.short_hash[:8]}-{c.size}-"
                f"{c.engine}-{c.device.replace(':', '')}-{c.dtype}-seed{c.seed}-"
                f"{c.config_id[:8]}-step{stop_at}.pt")  # fmt: skip
        path = Path(results_root) / CHECKPOINTS / name
    check_writable(path, "--checkpoint")
    if target is not None:
        check_runs_here(target, config)
    prepared = prepare_target(config, target, on_eval, resume_from=resume_from, stop_at=stop_at)
    prepared.loop()
    return save_target_checkpoint(prepared.training_state(), path)


def resume_target_to_folder(
    state: TargetTrainingState,
    out_dir: str | Path | None = None,
    results_root: str | Path | None = None,
    on_eval: TargetEvalCallback | None = None,
) -> tuple[TargetRun, Path]:
    """Finish the run ``state`` was taken from (its target loaded by its spec, refused if its
    code changed since) and write the run folder; its record names the checkpoint."""
    results_root = default_results() if results_root is None else results_root
    if out_dir is not None:
        check_new_folder(Path(out_dir))
    else:
        check_writable(Path(results_root) / RUNS / "run")
    prepared = prepare_target(state.config, None, on_eval, resume_from=state)
    prepared.loop()
    run = prepared.finish()
    folder = (
        Path(out_dir) if out_dir is not None else Path(results_root) / RUNS / new_target_run_id(run)
    )
    write_target_run_folder(run, prepared.state_dict(), folder)
    return run, folder
