"""A batch's members: each one's Run, built when asked for, and all their outcomes as columns.

A Run holds exact JSON of the parameters, their content hash and the whole loss history as
Python floats. For a thousand members, building every Run cost several times the batch's
training; a sweep's summary needs none of them, only columns, which are the batch's own tensors.
So MemberRuns keeps the tensors and builds member k's Run, exactly as eager would record it,
when ``runs[k]`` is read.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

import torch

from linreg.config import TrainConfig
from linreg.engines.records import make_run
from linreg.json_types import Fingerprint
from linreg.run import Run
from linreg.state import state_to_json


@dataclass(frozen=True)
class MemberOutcomes:
    """What a sweep summarises: one entry per member, seed-major; float64 but for the curves."""

    seeds: tuple[int, ...]
    lrs: tuple[float, ...]
    true_weight: torch.Tensor  # (K,): the line each member was fitted to
    true_bias: torch.Tensor
    final_train_loss: torch.Tensor  # (K,)
    final_test_loss: torch.Tensor
    weight: torch.Tensor  # (K,): the final parameters
    bias: torch.Tensor
    train_loss_by_epoch: torch.Tensor  # (epochs, K): one row per epoch, in the run's dtype

    @classmethod
    def of_runs(cls, runs: Sequence[Run]) -> MemberOutcomes:
        """The same columns read from Run records (runs not trained as one batch)."""

        def column(values: list[Any]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float64)

        return cls(
            seeds=tuple(r.config.seed for r in runs),
            lrs=tuple(r.config.lr for r in runs),
            true_weight=column([r.config.weight for r in runs]),
            true_bias=column([r.config.bias for r in runs]),
            final_train_loss=column([r.history.train_loss[-1] for r in runs]),
            final_test_loss=column([r.history.test_loss[-1] for r in runs]),
            weight=column([r.final_weight for r in runs]),
            bias=column([r.final_bias for r in runs]),
            train_loss_by_epoch=column([r.history.train_loss for r in runs]).T,
        )


class MemberRuns(Sequence[Run]):
    """The Runs of a batch's members (seed-major: every seed at every lr), each built on access.

    ``config`` is the batch's resolved config; member k trained seeds[k // len(lrs)] at
    lrs[k % len(lrs)]. ``train_losses`` is (epochs, K), ``test_losses`` (evals, K), ``initial``
    and ``final`` are (weight, bias) pairs of (K, 1): all on the CPU, in the run's dtype.
    Nothing is cached: ``runs[k]`` builds a new, equal Run each time.
    """

    def __init__(
        self,
        config: TrainConfig,
        seeds: Sequence[int],
        lrs: Sequence[float],
        environment: Fingerprint,
        timings: dict[str, float],
        train_losses: torch.Tensor,
        test_losses: torch.Tensor,
        initial: tuple[torch.Tensor, torch.Tensor],
        final: tuple[torch.Tensor, torch.Tensor],
    ) -> None:
        self.config = config
        self.seeds = tuple(seeds)
        self.lrs = tuple(lrs)
        self.environment = environment
        self.timings = timings
        self.train_losses = train_losses
        self.test_losses = test_losses
        self.initial = initial
        self.final = final

    def __len__(self) -> int:
        return len(self.seeds) * len(self.lrs)

    def __repr__(self) -> str:
        return f"<MemberRuns: {len(self)} members of config {self.config.config_id}>"

    @overload
    def __getitem__(self, index: int) -> Run: ...

    @overload
    def __getitem__(self, index: slice) -> list[Run]: ...

    def __getitem__(self, index: int | slice) -> Run | list[Run]:
        if isinstance(index, slice):
            return [self._build(k) for k in range(*index.indices(len(self)))]
        k = operator.index(index)
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(f"member {index} of a batch of {len(self)}")
        return self._build(k)

    def member_config(self, k: int) -> TrainConfig:
        seed, lr = self.seeds[k // len(self.lrs)], self.lrs[k % len(self.lrs)]
        return self.config.replace(seed=seed, lr=lr, engine="batched")

    def outcomes(self) -> MemberOutcomes:
        """Every member's outcome as columns, straight from the batch's tensors."""
        count, f64 = len(self), torch.float64
        (weight, bias) = self.final
        return MemberOutcomes(
            seeds=tuple(seed for seed in self.seeds for _ in self.lrs),
            lrs=self.lrs * len(self.seeds),
            true_weight=torch.full((count,), self.config.weight, dtype=f64),
            true_bias=torch.full((count,), self.config.bias, dtype=f64),
            final_train_loss=self.train_losses[-1].to(f64),
            final_test_loss=self.test_losses[-1].to(f64),
            weight=weight.reshape(-1).to(f64),
            bias=bias.reshape(-1).to(f64),
            train_loss_by_epoch=self.train_losses,
        )

    def _build(self, k: int) -> Run:
        return make_run(
            self.member_config(k),
            self.environment,
            self.train_losses[:, k],
            self.test_losses[:, k],
            state_to_json(_parameters(*self.initial, k)),
            _parameters(*self.final, k),
            dict(self.timings),
        )


def _parameters(weight: torch.Tensor, bias: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """Member k's state_dict, shaped as the tutorial's nn.Linear(1, 1) holds it."""
    return {"linear.weight": weight[k].reshape(1, 1), "linear.bias": bias[k].reshape(1)}
