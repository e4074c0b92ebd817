"""targets: the harness's cost on a target's training step, against a bare hand-written loop of
the same target (its own model, data, loss, optimizer and schedule, built under the same seed).

    python bench/bench_targets.py [--rounds N] [--targets mlp,chargpt] [--deterministic]

Each round times the harness's ``loop()`` (linreg.engines.target_loop, set-up untimed) and the
bare loop, alternating in this one process (A B A B ...), so both see the same machine state;
the figures are medians of the rounds' seconds per step, their ratio, and the median of each
round's own ratio. The bare loop's losses are checked against the harness's bit for bit, so the
two train the same thing. The issue's bound: harness / bare <= 1.05 for mlp and chargpt at "ci".

Not collected by ``pytest bench`` (no ``bench_*`` function): the bench suite's overhead kind can
call ``compare_target`` as it calls its other comparisons.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from linreg.engines.target_loop import prepare_target
from linreg.env import cpu_model
from linreg.numerics import numeric_settings
from linreg.target_config import TargetConfig
from linreg.target_loading import load_target

MAX_RATIO = 1.05


def bare_loop(target, config: TargetConfig):
    """The target trained by hand: what a user writes without linreg. Returns (run, losses):
    ``run()`` trains and gives the losses as floats."""
    size = target.size(config.size, config.steps)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed)
    model = target.model(size).to(dtype=getattr(torch, config.dtype))
    generator = torch.Generator().manual_seed(config.seed)
    data = target.data(size, generator)
    loss_fn = target.loss(size)
    params = list(model.parameters())
    optimizer = target.optimizer(params, size)
    scheduler = target.scheduler(optimizer, size)
    eval_steps = set(target.eval_steps(size.steps))
    rng = torch.get_rng_state()

    def run() -> list[float]:
        torch.set_rng_state(rng)  # dropout draws as the harness's run draws
        losses = []
        batches = iter(data.train)
        model.train()
        for step in range(size.steps):
            try:
                x, y = next(batches)
            except StopIteration:
                batches = iter(data.train)
                x, y = next(batches)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            if target.clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, target.clip_grad_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(loss.detach())
            if step in eval_steps and data.eval is not None:
                model.eval()
                with torch.inference_mode():
                    values = [loss_fn(model(ex), ey) for ex, ey in data.eval]
                model.train()
                loss.item(), [v.item() for v in values]
        return [float(v) for v in losses]

    return run


def compare_target(spec: str, rounds: int, deterministic: bool) -> dict:
    target, ref = load_target(spec)
    config = TargetConfig(target=ref, size="ci", threads=1, deterministic=deterministic)
    steps = target.sizes["ci"]["steps"]
    harness_s, bare_s = [], []
    same = None
    for _ in range(rounds + 1):  # the first round of each warms up, and is dropped
        prepared = prepare_target(config, target)
        started = time.perf_counter()
        prepared.loop()
        harness_s.append(time.perf_counter() - started)
        run = prepared.finish()
        bare = bare_loop(target, config)
        # The same threads and flags as the harness's loop (which also leaves new memory
        # unfilled under deterministic algorithms): only the loop's own code differs.
        fill = torch.utils.deterministic.fill_uninitialized_memory
        torch.utils.deterministic.fill_uninitialized_memory = False
        try:
            with numeric_settings(config):
                started = time.perf_counter()
                losses = bare()
                bare_s.append(time.perf_counter() - started)
        finally:
            torch.utils.deterministic.fill_uninitialized_memory = fill
        same = list(run.train_loss) == losses
    harness_s, bare_s = harness_s[1:], bare_s[1:]
    pairs = [h / b for h, b in zip(harness_s, bare_s, strict=True)]
    return {
        "target": spec,
        "size": "ci",
        "steps": steps,
        "deterministic": deterministic,
        "rounds": rounds,
        "harness_step_us_median": statistics.median(harness_s) / steps * 1e6,
        "bare_step_us_median": statistics.median(bare_s) / steps * 1e6,
        "ratio": statistics.median(harness_s) / statistics.median(bare_s),
        "paired_ratio": statistics.median(pairs),
        "max_ratio": MAX_RATIO,
        "same_losses": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--targets", default="mlp,chargpt")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="Deterministic algorithms on for both loops (linreg's default).",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    results = [compare_target(s, args.rounds, args.deterministic) for s in args.targets.split(",")]
    print(json.dumps({
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "load_1min_before": load_before,
        "load_1min_after": os.getloadavg()[0],
        "comparisons": results,
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
