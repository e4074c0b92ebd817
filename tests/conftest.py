from __future__ import annotations

import pytest
import torch

from linreg.config import TrainConfig
from linreg.engines import train
from linreg.run import Run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False on this machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tutorial_run() -> Run:
    """The default config (the tutorial's, seed 42) trained once per test session."""
    return train(TrainConfig())
