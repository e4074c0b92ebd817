"""overhead: what linreg costs around what it measures, each beside the reference it must match.

A harness that times training must itself cost next to nothing, or it hides what it measures.
Each comparison runs a candidate (linreg) and its reference alternately in this one process, so
both see the same machine state: pytest-benchmark times the candidate's rounds, and the
reference runs, timed here, in each round's untimed setup. The stored stats are the
candidate's; extra_info holds both sides' rounds and medians, their ratio (candidate median /
reference median), the median of the rounds' own ratios (paired_ratio) and the bound the ratio
should stay under.

- train: linreg's whole ``train(TrainConfig())`` against the tutorial's bare loop; <= 1.05.
- sweep: a 1,000-seed batched sweep end to end (train, summary, its JSON) against one eager run
  per seed: a ratio <= 1 is >= 1,000× eager per seed.
- cli_help, cli_env: ``python -m linreg --help`` and ``python -m linreg env --json`` against
  ``python -c "import torch"``, each a fresh process; <= 0.35 and <= 1.2.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from linreg.config import TrainConfig
from linreg.engines import train
from linreg.engines.batched import train_batched
from linreg.model import LrModel
from linreg.suites.sweep import summarise

REPO_ROOT = Path(__file__).resolve().parent.parent
SWEEP_MEMBERS = 1_000


def tutorial_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The tutorial's data, built before its loop starts (as the tutorial builds it)."""
    weight, bias = 0.8, 0.2
    X = torch.arange(0, 1, 0.02).unsqueeze(dim=1)
    y = weight * X + bias
    train_split = int(0.8 * len(X))
    return X[:train_split], y[:train_split], X[train_split:], y[train_split:]


def tutorial_loop(X_train, y_train, X_test, y_test) -> None:
    """The tutorial's training loop as written there: the reference linreg's train() is held to."""
    torch.manual_seed(42)
    model = LrModel()
    loss_fn = nn.L1Loss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    epoch_count, loss_values, test_loss_values = [], [], []
    for epoch in range(500):
        model.train()
        y_pred = model(X_train)
        loss = loss_fn(y_pred, y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if epoch % 50 == 0:
            model.eval()
            with torch.inference_mode():
                test_pred = model(X_test)
                test_loss = loss_fn(test_pred, y_test.type(torch.float))
            epoch_count.append(epoch)
            loss_values.append(loss.detach().numpy())
            test_loss_values.append(test_loss.detach().numpy())


def sweep_end_to_end(config: TrainConfig):
    """What `linreg sweep` does short of the file: train every member, summarise, serialise.

    The members' Runs are returned: every member's result stays available to the caller."""
    runs = train_batched(config, seeds=range(SWEEP_MEMBERS))
    json.dumps(summarise(config, runs, timings=runs[0].timings).to_dict())
    return runs


def spawn(*args: str) -> Callable[[], None]:
    """A fresh Python process running args, with this checkout's linreg first on its path."""
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}

    def run() -> None:
        done = subprocess.run(
            [sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.decode()[-500:]}")

    return run


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def interleaved(
    benchmark, candidate: Callable[[], object], reference: Callable[[], object], rounds: int
) -> tuple[list[float], list[float]]:
    """(candidate, reference) seconds per round, the two alternating; one warm-up round each.

    Under --benchmark-disable pytest-benchmark makes one untimed call, and one of each is kept.
    """
    candidate_s: list[float] = []
    reference_s: list[float] = []
    benchmark.pedantic(
        lambda: candidate_s.append(seconds(candidate)),
        setup=lambda: reference_s.append(seconds(reference)),
        rounds=rounds,
        warmup_rounds=1,
    )
    return candidate_s[-rounds:], reference_s[-rounds:]


@dataclass
class Comparison:
    """A candidate's and its reference's seconds per round, and the bound on their ratio."""

    candidate: str
    reference: str
    candidate_s: list[float]
    reference_s: list[float]
    max_ratio: float
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return statistics.median(self.candidate_s) / statistics.median(self.reference_s)

    @property
    def paired_ratio(self) -> float:
        """The median of each round's own ratio: on a shared machine whose load drifts across
        rounds, neighbours in time are the fairer pairs."""
        pairs = zip(self.candidate_s, self.reference_s, strict=True)
        return statistics.median(candidate / reference for candidate, reference in pairs)


def compare_train(benchmark, rounds: int) -> Comparison:
    data = tutorial_data()
    config = TrainConfig()
    candidate_s, reference_s = interleaved(
        benchmark, lambda: train(config), lambda: tutorial_loop(*data), rounds
    )
    return Comparison(
        "linreg train(TrainConfig())",
        "the tutorial's bare loop, 500 epochs",
        candidate_s,
        reference_s,
        max_ratio=1.05,
    )


def compare_sweep(benchmark, rounds: int) -> Comparison:
    config = TrainConfig()
    last_runs: list = []

    def candidate() -> None:
        last_runs[:] = [sweep_end_to_end(config)]

    candidate_s, reference_s = interleaved(benchmark, candidate, lambda: train(config), rounds)
    # Outside the timed sweep: every member's Run record built, as a caller asking for each would.
    (runs,) = last_runs
    records_s = seconds(lambda: [run.state_hash for run in runs])
    sweep_s, eager_s = statistics.median(candidate_s), statistics.median(reference_s)
    return Comparison(
        f"{SWEEP_MEMBERS}-seed batched sweep: train, summary, summary JSON",
        "one eager train(TrainConfig()) run",
        candidate_s,
        reference_s,
        max_ratio=1.0,  # the sweep within one eager run's time: >= 1,000× eager per seed
        extra={
            "members": SWEEP_MEMBERS,
            "per_seed_speedup": SWEEP_MEMBERS * eager_s / sweep_s,
            "member_records_s": records_s,
            "per_seed_speedup_with_records": SWEEP_MEMBERS * eager_s / (sweep_s + records_s),
            # The batched engine picks its own where the config leaves threads to torch.
            "sweep_threads": runs.environment["num_threads"],
        },
    )


def compare_cli(benchmark, rounds: int, *command: str, max_ratio: float) -> Comparison:
    candidate_s, reference_s = interleaved(
        benchmark, spawn("-m", "linreg", *command), spawn("-c", "import torch"), rounds
    )
    return Comparison(
        f"python -m linreg {' '.join(command)}",
        'python -c "import torch"',
        candidate_s,
        reference_s,
        max_ratio=max_ratio,
    )


def bench_overhead(benchmark, case_info, profile, comparison):
    rounds = profile.overhead_rounds
    load_before = os.getloadavg()[0]
    if comparison == "train":
        measured = compare_train(benchmark, rounds)
        case_info.update(device="cpu", dtype="float32", seed=42, engine="eager", size=40)
    elif comparison == "sweep":
        measured = compare_sweep(benchmark, rounds)
        case_info.update(device="cpu", dtype="float32", engine="batched", size=40)
    elif comparison == "cli_help":
        measured = compare_cli(benchmark, rounds, "--help", max_ratio=0.35)
    else:
        measured = compare_cli(benchmark, rounds, "env", "--json", max_ratio=1.2)
    case_info.update(
        comparison=comparison,
        candidate=measured.candidate,
        reference=measured.reference,
        candidate_median_s=statistics.median(measured.candidate_s),
        reference_median_s=statistics.median(measured.reference_s),
        candidate_s=measured.candidate_s,
        reference_s=measured.reference_s,
        ratio=measured.ratio,
        paired_ratio=measured.paired_ratio,
        max_ratio=measured.max_ratio,
        meets_target=measured.ratio <= measured.max_ratio,
        threads=torch.get_num_threads(),
        load_1min_before=load_before,
        load_1min_after=os.getloadavg()[0],
        **measured.extra,
    )
    benchmark.extra_info.update(case_info)
