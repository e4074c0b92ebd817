"""Training a target to a run folder (`linreg train --target`), and checking a target
(`linreg target check`): its declared dtypes trained a step each on the CPU, and twice alike."""

from __future__ import annotations

from pathlib import Path

from linreg.engines.target_loop import TargetEvalCallback, prepare_target
from linreg.errors import LinregError
from linreg.paths import results_root as default_results
from linreg.results.files import check_new_folder, check_writable
from linreg.results.target_check import DtypeCheck, TargetCheck
from linreg.results.target_run_folder import new_target_run_id, write_target_run_folder
from linreg.target import Target, TargetError
from linreg.target_config import TargetConfig
from linreg.target_loading import check_runs_here
from linreg.target_run import TargetRun

RUNS = "runs"
# `target check` trains this many steps per dtype, and twice in float32 to see them agree.
CHECK_STEPS = 2


def train_target_to_folder(
    config: TargetConfig,
    target: Target,
    out_dir: str | Path | None = None,
    results_root: str | Path | None = None,
    on_eval: TargetEvalCallback | None = None,
) -> tuple[TargetRun, Path]:
    """Train, then write the run folder; the output location and what the target declares are
    checked before training, so bad input costs no training time."""
    check_runs_here(target, config)
    results_root = default_results() if results_root is None else results_root
    if out_dir is not None:
        check_new_folder(Path(out_dir))
    else:
        check_writable(Path(results_root) / RUNS / "run")
    prepared = prepare_target(config, target, on_eval)
    prepared.loop()
    run = prepared.finish()
    folder = (
        Path(out_dir) if out_dir is not None else Path(results_root) / RUNS / new_target_run_id(run)
    )
    write_target_run_folder(run, prepared.state_dict(), folder)
    return run, folder


def check_target(config: TargetConfig, target: Target) -> TargetCheck:
    """Each declared dtype trained CHECK_STEPS steps on the CPU (where the target runs on it),
    and float32 (or the first dtype) trained twice: the same bits, unless the target declares
    its nondeterminism."""
    dtypes: list[DtypeCheck] = []
    runs: dict[str, TargetRun] = {}
    base = config.replace(device="cpu", engine="eager", steps=CHECK_STEPS)
    for dtype in target.dtypes if "cpu" in target.devices else ():
        try:
            runs[dtype] = _train(base.replace(dtype=dtype), target)
            dtypes.append(DtypeCheck(dtype, None, runs[dtype].train_loss[-1]))
        except TargetError as exc:
            dtypes.append(DtypeCheck(dtype, exc.problem, None))
        except LinregError as exc:
            dtypes.append(DtypeCheck(dtype, str(exc), None))
    twin_dtype = "float32" if "float32" in runs else next(iter(runs), None)
    repeated = None
    if twin_dtype is not None:
        again = _train(base.replace(dtype=twin_dtype), target)
        repeated = _first_difference(runs[twin_dtype], again)
    return TargetCheck(
        target=config.target,
        devices=tuple(target.devices),
        engines=tuple(target.engines),
        sizes=tuple(target.sizes),
        nondeterministic=tuple(target.nondeterministic),
        dtypes=tuple(dtypes),
        twin_dtype=twin_dtype,
        twin_difference=repeated,
    )


def _train(config: TargetConfig, target: Target) -> TargetRun:
    prepared = prepare_target(config, target)
    prepared.loop()
    return prepared.finish()


def _first_difference(first: TargetRun, second: TargetRun) -> str | None:
    for step, (a, b) in enumerate(zip(first.train_loss, second.train_loss, strict=True)):
        if a != b:
            return f"the train loss at step {step} ({a!r} and {b!r})"
    for name, digest in first.parameters.items():
        if second.parameters.get(name) != digest:
            return f"the trained {name}"
    return None
