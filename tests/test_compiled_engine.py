import pytest
import torch

from linreg.config import TrainConfig
from linreg.engines import compiled, train
from linreg.errors import ConfigError

# Compiling costs seconds on a small CPU: one compiled run serves the whole module.
CONFIG = TrainConfig(engine="compiled", epochs=120, eval_every=40)


@pytest.fixture(scope="module")
def compiled_run():
    return train(CONFIG)


def test_compiled_agrees_with_eager_within_tolerance(compiled_run):
    eager = train(CONFIG.replace(engine="eager"))
    assert compiled_run.initial_state == eager.initial_state
    assert compiled_run.history.test_epochs == eager.history.test_epochs
    for name in ("train_loss", "test_loss"):
        torch.testing.assert_close(
            torch.tensor(getattr(compiled_run.history, name), dtype=torch.float32),
            torch.tensor(getattr(eager.history, name), dtype=torch.float32),
        )
    torch.testing.assert_close(
        torch.tensor([compiled_run.final_weight, compiled_run.final_bias], dtype=torch.float32),
        torch.tensor([eager.final_weight, eager.final_bias], dtype=torch.float32),
    )


def test_compile_time_is_reported_apart_from_train_time(compiled_run):
    timings = compiled_run.timings
    assert set(timings) == {"compile_seconds", "train_seconds", "epoch_us"}
    assert timings["compile_seconds"] > 0 and timings["train_seconds"] > 0
    assert compiled_run.config.engine == "compiled"


def test_missing_cpp_compiler_is_refused_up_front(monkeypatch):
    monkeypatch.setattr(compiled.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(ConfigError, match=r"engine: compiled is unavailable: .*C\+\+ compiler"):
        train(CONFIG)


def test_a_failing_compiler_becomes_one_clear_error(monkeypatch):
    def broken_compile(fn, **kwargs):
        def call(*args):
            raise RuntimeError("inductor exploded\nlong traceback text")

        return call

    monkeypatch.setattr(compiled.torch, "compile", broken_compile)
    compiled._compiled_step.cache_clear()  # CONFIG's step, compiled by the fixture, is cached
    with pytest.raises(
        ConfigError, match=r"torch.compile failed \(RuntimeError: inductor exploded\)"
    ):
        train(CONFIG)


def test_each_graph_is_compiled_past_dynamos_recompile_limit(compiled_run):
    # Graphs used to share one code object: past recompile_limit of them, dynamo ran the step
    # eagerly without a word, so a bench session's later cases timed eager as "compiled".
    from torch._dynamo.utils import counters

    with torch._dynamo.config.patch(recompile_limit=1):
        before = counters["stats"]["unique_graphs"]
        run = train(CONFIG.replace(samples=60, epochs=3))
    assert counters["stats"]["unique_graphs"] == before + 1
    assert run.config.engine == "compiled"
