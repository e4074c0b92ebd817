"""The tutorial's linear regression as a target: the default, trained by the generic harness
bit for bit as the tutorial's own eager engine trains it (tests/test_targets.py shows it).

The model and the data are the tutorial's own (linreg.model, linreg.data): one definition of
each. The tutorial evaluates after steps 0, 50, …, 450 (its ``epoch % 50 == 0``), not after
every 50th step and the last: a convention this target declares by overriding ``eval_steps``.
"""

from __future__ import annotations

from torch import nn, optim

from linreg.config import DTYPES, TrainConfig
from linreg.data import make_dataset
from linreg.model import LrModel
from linreg.target import Target, TargetData

_TUTORIAL = TrainConfig()


class Tutorial(Target):
    name = "tutorial"
    devices = ("cpu", "cuda", "mps")
    dtypes = DTYPES
    engines = ("eager", "compiled")
    # Full batch: one step is one of the tutorial's epochs. Small enough for CI as it is.
    sizes = {"ci": {"steps": _TUTORIAL.epochs}, "full": {"steps": _TUTORIAL.epochs}}
    eval_every = _TUTORIAL.eval_every
    nondeterministic = ()
    # The tutorial's model and data are defined beside the package's core: part of its code.
    data_files = ("../model.py", "../data.py")

    def model(self, size):
        return LrModel()

    def data(self, size, generator):
        # The line is computed in float32 on the CPU, as the tutorial computes it; the harness
        # casts it to the run's dtype and device.
        data = make_dataset(_TUTORIAL, device="cpu")
        return TargetData(train=[(data.X_train, data.y_train)], eval=[(data.X_test, data.y_test)])

    def loss(self, size):
        return nn.L1Loss()

    def optimizer(self, params, size):
        return optim.SGD(params, lr=_TUTORIAL.lr)

    def eval_steps(self, steps):
        return tuple(range(0, steps, self.eval_every))
