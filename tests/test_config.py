import pytest

from linreg.config import TrainConfig
from linreg.errors import ConfigError


def test_defaults_are_the_tutorials():
    c = TrainConfig()
    assert (c.weight, c.bias, c.start, c.stop, c.step) == (0.8, 0.2, 0.0, 1.0, 0.02)
    assert (c.train_fraction, c.loss, c.optimizer, c.lr) == (0.8, "l1", "sgd", 0.01)
    assert (c.epochs, c.eval_every, c.seed, c.dtype, c.engine) == (500, 50, 42, "float32", "eager")
    assert c.deterministic is True
    assert c.momentum == 0.0
    assert (c.sample_count, c.train_size) == (50, 40)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"dtype": "float8"}, "dtype", "must be one of float32, float64, bfloat16, float16"),
        ({"device": "tpu"}, "device", "must be one of cpu, cuda, cuda:N, mps, auto"),
        ({"device": "cuda:x"}, "device", "must be one of"),
        ({"engine": "jit"}, "engine", "must be one of eager"),
        ({"loss": "huber"}, "loss", "must be one of l1, mse"),
        ({"optimizer": "rmsprop"}, "optimizer", "must be one of sgd, adam"),
        ({"momentum": 1.0}, "momentum", r"must be a number in \[0, 1\)"),
        ({"momentum": -0.1}, "momentum", r"must be a number in \[0, 1\)"),
        ({"momentum": float("nan")}, "momentum", r"must be a number in \[0, 1\)"),
        ({"momentum": True}, "momentum", r"must be a number in \[0, 1\)"),
        ({"optimizer": "adam", "momentum": 0.9}, "momentum", "leave --momentum at 0 with adam"),
        ({"lr": 0.0}, "lr", "must be > 0"),
        ({"lr": -1.0}, "lr", "must be > 0"),
        ({"lr": float("nan")}, "lr", "finite"),
        ({"epochs": 0}, "epochs", "must be in"),
        ({"epochs": 10**12}, "epochs", "must be in"),
        ({"epochs": 2.5}, "epochs", "must be an integer"),
        ({"eval_every": 0}, "eval_every", "must be >= 1"),
        ({"train_fraction": 0.0}, "train_fraction", r"must be in \(0, 1\)"),
        ({"train_fraction": 1.0}, "train_fraction", r"must be in \(0, 1\)"),
        ({"train_fraction": 0.01}, "train_fraction", "leaves 0 of 50 samples"),
        ({"threads": 0}, "threads", ">= 1"),
        ({"samples": 1}, "samples", ">= 2"),
        ({"seed": -1}, "seed", r"\[0, 2\*\*63\)"),
        ({"stop": 0.0}, "stop", "must be greater than start"),
        ({"deterministic": "yes"}, "deterministic", "true or false"),
    ],
)
def test_invalid_values_are_refused_naming_the_field(changes, field, message):
    with pytest.raises(ConfigError, match=message) as info:
        TrainConfig(**changes)
    assert info.value.field == field


def test_config_id_is_a_content_hash():
    assert TrainConfig().config_id == TrainConfig().config_id
    assert TrainConfig(seed=1).config_id != TrainConfig().config_id


def test_json_round_trip():
    c = TrainConfig(seed=7, dtype="float64", threads=1, samples=1000)
    assert TrainConfig.from_dict(c.to_dict()) == c


def test_unknown_field_is_refused():
    with pytest.raises(ConfigError, match="unknown field"):
        TrainConfig.from_dict({"sed": 1})


def test_config_ids_written_before_momentum_existed_stay_the_same():
    """Results written before the field existed keep their ids: at its default it is left out
    of the canonical JSON (as tf32 is)."""
    import hashlib
    import json

    config = TrainConfig(seed=3, dtype="float64")
    before = {k: v for k, v in config.to_dict().items() if k not in ("tf32", "momentum")}
    text = json.dumps(before, sort_keys=True, separators=(",", ":"))
    assert config.config_id == hashlib.sha256(text.encode()).hexdigest()[:12]
    assert TrainConfig.from_dict(before) == config
    assert config.replace(momentum=0.9).config_id != config.config_id
    assert config.replace(optimizer="adam").config_id != config.config_id


def test_the_default_config_keeps_the_id_of_the_committed_references():
    from pathlib import Path

    from linreg.results.files import read_json
    from linreg.results.load import load_run

    path = Path(__file__).parent.parent / "results/reference/cpu-float32-seed42-threads1-eager.json"
    assert load_run(path).config == TrainConfig(threads=1)
    assert read_json(path)["config_id"] == TrainConfig(threads=1).config_id == "887cbe5194aa"


@pytest.mark.parametrize(
    ("changes", "optimizer"),
    [({}, "SGD"), ({"momentum": 0.9}, "SGD"), ({"optimizer": "adam"}, "Adam")],
)
def test_make_optimizer_builds_the_configs_optimizer(changes, optimizer):
    import torch

    from linreg.model import LrModel, make_optimizer

    config = TrainConfig(**changes)
    built = make_optimizer(config, LrModel())
    assert type(built).__name__ == optimizer
    group = built.param_groups[0]
    assert group["lr"] == config.lr
    if optimizer == "SGD":
        assert group["momentum"] == config.momentum
    else:  # torch's defaults: nothing else was asked for
        defaults = torch.optim.Adam(LrModel().parameters(), lr=config.lr).param_groups[0]
        assert {k: v for k, v in group.items() if k != "params"} == {
            k: v for k, v in defaults.items() if k != "params"
        }
