"""TF32 and deterministic algorithms as axes of a run: in the config, in the global settings a
run borrows, in the repro matrix and its pairs, and on `linreg repro`'s command line."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from linreg.cli import main
from linreg.compare.pair_rule import pair_kind
from linreg.config import TrainConfig
from linreg.engines import train
from linreg.errors import ConfigError
from linreg.numerics import numeric_settings
from linreg.results.load import load_checks
from linreg.results.references import reference_name
from linreg.results.resultset import run_label
from linreg.suites.repro import ReproMatrix, ReproOptions
from linreg.suites.repro_options import DEFAULT_REQUIREMENTS, label

SHORT = TrainConfig(epochs=30, eval_every=10)


def flags() -> tuple:
    return (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
    )


def test_tf32_is_off_by_default_and_validated():
    assert TrainConfig().tf32 is False
    with pytest.raises(ConfigError, match=r"tf32: must be true or false, got 'yes'"):
        TrainConfig(tf32="yes")


def test_config_ids_written_before_tf32_existed_stay_the_same():
    config = TrainConfig(seed=3, dtype="float64")
    before = {k: v for k, v in config.to_dict().items() if k not in ("tf32", "momentum")}
    text = json.dumps(before, sort_keys=True, separators=(",", ":"))
    assert config.config_id == hashlib.sha256(text.encode()).hexdigest()[:12]
    assert config.replace(tf32=True).config_id != config.config_id
    assert TrainConfig.from_dict(before) == config  # a record without the field reads back


def test_tutorial_configs_keep_their_readable_reference_names():
    assert reference_name(TrainConfig(threads=1)) == "cpu-float32-seed42-threads1-eager.json"
    assert "-cfg" in reference_name(TrainConfig(tf32=True))


def test_default_settings_are_deterministic_without_tf32_as_before():
    saved = flags()
    with numeric_settings(TrainConfig()):
        assert flags() == (False, False, "highest", True, True)
    assert flags() == saved


def test_tf32_and_nondeterminism_are_set_independently_and_given_back():
    saved = flags()
    with numeric_settings(TrainConfig(tf32=True)):
        assert flags() == (True, True, "high", True, True)
    with numeric_settings(TrainConfig(deterministic=False)):
        assert flags() == (False, False, "highest", False, False)
    with numeric_settings(TrainConfig(tf32=True, deterministic=False)):
        assert flags() == (True, True, "high", False, False)
    assert flags() == saved


def test_a_run_records_the_flags_it_ran_with():
    run = train(SHORT.replace(tf32=True, deterministic=False))
    env = run.environment
    assert env["matmul_allow_tf32"] is True and env["float32_matmul_precision"] == "high"
    assert env["deterministic_algorithms"] is False
    assert run.config.tf32 is True


def test_the_matrix_crosses_the_new_axes_and_pairs_each_run_with_its_twin():
    matrix = ReproMatrix(devices=("cpu",), dtypes=("float32",), seeds=(42,), threads=(1,),
                         tf32=(False, True), deterministic=(True, False), base=SHORT)  # fmt: skip
    configs = matrix.configs()
    assert len(configs) == 1 + 4  # the float64 reference and float32 × TF32 × determinism
    assert {(c.tf32, c.deterministic) for c in configs if c.dtype == "float32"} == {
        (False, True), (True, True), (False, False), (True, False),
    }  # fmt: skip
    reference = matrix.reference(42)
    assert (reference.tf32, reference.deterministic) == (False, True)
    tf32_run = SHORT.replace(threads=1, tf32=True, deterministic=False)
    assert matrix.twin(tf32_run) == tf32_run.replace(tf32=False)
    assert pair_kind(tf32_run, matrix.reference(42)) == "tf32"
    nondeterministic = tf32_run.replace(tf32=False)
    assert matrix.twin(nondeterministic) == nondeterministic.replace(deterministic=True)
    assert pair_kind(nondeterministic, matrix.reference(42)) == "nondeterministic"
    assert label(tf32_run).endswith("eager tf32 nondeterministic")


def test_a_manifest_written_before_the_axes_loads_with_their_defaults_and_its_id():
    old = ReproOptions(ReproMatrix(devices=("cpu",)), reference_dir=None).to_dict()
    del old["matrix"]["tf32"], old["matrix"]["deterministic"]
    old["requirements"] = {k: v for k, v in old["requirements"].items()
                           if k not in ("tf32", "nondeterministic")}  # fmt: skip
    loaded = ReproOptions.from_dict(old)
    assert (loaded.matrix.tf32, loaded.matrix.deterministic) == ((False,), (True,))
    assert loaded.requirements == DEFAULT_REQUIREMENTS
    assert loaded.matrix.matrix_id == "001f000b"  # the id this matrix had before the axes


def test_run_labels_tell_tf32_and_nondeterministic_runs_apart():
    other = train(SHORT.replace(tf32=True))
    assert run_label(other) != run_label(train(SHORT))
    assert "tf32True" in run_label(other)


def test_repro_command_checks_tf32_and_nondeterministic_runs_against_their_twins(tmp_path):
    args = ["repro", "--devices", "cpu", "--dtypes", "float32", "--seeds", "42", "--threads",
            "1", "--epochs", "30", "--tf32", "off,on", "--deterministic", "on,off",
            "--no-golden", "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    [checks_file] = tmp_path.glob("*/checks.json")
    checks = load_checks(checks_file).checks
    pairs = {(c.kind, c.pair) for c in checks}
    assert ("consistency", "tf32") in pairs and ("consistency", "nondeterministic") in pairs
    assert ("determinism", "nondeterministic") in pairs
    tf32_twin = [c for c in checks if c.pair == "tf32" and "tf32" not in c.against
                 and c.against.startswith("cpu float32")]  # fmt: skip
    # On a CPU the TF32 flags change nothing: the TF32 run is its twin, bit for bit.
    assert tf32_twin and all(c.comparison.level == "a" for c in tf32_twin)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tf32", "maybe"], "--tf32: unknown 'maybe'; choose from off, on"),
        (["--deterministic", "on,,off"], "--deterministic: empty item"),
        (["--require", "tf32=z"], "--require: expected PAIR=LEVEL"),
    ],
)
def test_bad_axis_values_are_exit_2(args, message, tmp_path, capsys):
    assert main(["repro", "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


DETERMINISTIC_IN_A_FRESH_PROCESS = """
import sys
from linreg.config import TrainConfig
from linreg.numerics import numeric_settings
import torch
with numeric_settings(TrainConfig(engine=sys.argv[1], deterministic=True)):
    on = torch.are_deterministic_algorithms_enabled()
    loaded = "torch._inductor.config" in sys.modules
    inductor = loaded and sys.modules["torch._inductor.config"].deterministic
print(on, loaded, inductor, torch.are_deterministic_algorithms_enabled())
"""


@pytest.mark.parametrize(("engine", "printed"), [
    # An eager run sets torch's flag without importing the compiler (seconds of every process).
    ("eager", "True False False False"),
    # A compiled run sets inductor's flag too, and both are returned afterwards.
    ("compiled", "True True True False"),
])  # fmt: skip
def test_the_deterministic_flag_reaches_what_the_engine_reads(engine, printed):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", DETERMINISTIC_IN_A_FRESH_PROCESS, engine],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert done.stdout.split()[-4:] == printed.split()
