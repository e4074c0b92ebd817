import pytest

from linreg.config import TrainConfig
from linreg.errors import ConfigError


def test_defaults_are_the_tutorials():
    c = TrainConfig()
    assert (c.weight, c.bias, c.start, c.stop, c.step) == (0.8, 0.2, 0.0, 1.0, 0.02)
    assert (c.train_fraction, c.loss, c.optimizer, c.lr) == (0.8, "l1", "sgd", 0.01)
    assert (c.epochs, c.eval_every, c.seed, c.dtype, c.engine) == (500, 50, 42, "float32", "eager")
    assert c.deterministic is True
    assert (c.sample_count, c.train_size) == (50, 40)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"dtype": "float8"}, "dtype", "must be one of float32, float64, bfloat16, float16"),
        ({"device": "tpu"}, "device", "must be one of cpu, cuda, cuda:N, mps, auto"),
        ({"device": "cuda:x"}, "device", "must be one of"),
        ({"engine": "jit"}, "engine", "must be one of eager"),
        ({"loss": "huber"}, "loss", "must be one of l1, mse"),
        ({"optimizer": "adam"}, "optimizer", "must be one of sgd"),
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
