"""The target harness: the tutorial trained through it bit for bit as the tutorial's eager
engine trains it, the shipped examples alike twice in one process, a user's target from a file,
eager against compiled, and the record's round trip."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from linreg.config import TrainConfig
from linreg.engines.compiled import compiler_problem
from linreg.engines.target_loop import prepare_target, train_target
from linreg.results.load import load_result, load_target_run
from linreg.results.target_run_folder import write_target_run_folder
from linreg.state import state_dict_hash, state_from_json
from linreg.target_config import TargetConfig
from linreg.target_loading import load_target
from linreg.target_run import TargetRun
from linreg.tolerance import DEFAULT_TOLERANCES
from tests.target_files import USER_TARGET, variant, write

EXAMPLES = ("mlp", "cnn", "chargpt")


def config_for(spec: str, **changes) -> tuple:
    target, ref = load_target(spec)
    # One thread: the examples' steps are small, and on a busy shared host a second thread
    # spins more than it works.
    return target, TargetConfig(target=ref, **{"size": "ci", "threads": 1, **changes})


@pytest.fixture(scope="module")
def example_runs() -> dict[str, tuple[TargetRun, TargetRun]]:
    """Each example trained twice at its ci size, in this one process."""
    runs = {}
    for name in EXAMPLES:
        target, config = config_for(name)
        runs[name] = (train_target(config, target), train_target(config, target))
    return runs


def test_the_tutorial_target_trains_bit_for_bit_as_the_tutorials_eager_engine(tutorial_run):
    target, ref = load_target("tutorial")
    config = TargetConfig(target=ref, size="full", seed=42, dtype="float32")
    prepared = prepare_target(config, target)
    prepared.loop()
    run = prepared.finish()
    history = tutorial_run.history
    assert tutorial_run.config == TrainConfig()
    assert run.train_loss == history.train_loss
    assert run.eval_steps == history.test_epochs
    assert run.eval_loss == history.test_loss
    assert run.state_hash == tutorial_run.state_hash
    final = state_from_json(tutorial_run.final_state)
    for name, tensor in prepared.state_dict().items():
        assert torch.equal(tensor, final[name]), name


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_trains_at_ci_and_twice_alike_in_one_process(example_runs, name):
    first, second = example_runs[name]
    assert first == second  # every loss, every parameter and buffer's bytes, the config
    assert first.steps == load_target(name)[0].sizes["ci"]["steps"]
    assert first.eval_loss[-1] < first.eval_loss[0], "it learns"


def test_the_examples_exercise_buffers_dropout_schedules_and_clipping():
    cnn, _ = load_target("cnn")
    gpt, _ = load_target("chargpt")
    model = cnn.model(cnn.size("ci"))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    assert gpt.clip_grad_norm is not None
    assert gpt.scheduler(torch.optim.SGD([torch.zeros(1, requires_grad=True)]), gpt.size("ci"))


def test_the_transformer_has_about_a_million_parameters(example_runs):
    run, _ = example_runs["chargpt"]
    assert 0.8e6 <= run.parameter_count <= 1.2e6
    # BatchNorm's running statistics are buffers in the record, beside the parameters.
    cnn, _ = example_runs["cnn"]
    assert any(d.buffer for d in cnn.parameters.values())


def test_another_seed_is_another_run(example_runs):
    target, config = config_for("mlp", seed=7)
    other = train_target(config, target)
    assert other.train_loss[0] != example_runs["mlp"][0].train_loss[0]


def test_a_users_target_from_a_file_outside_the_package_trains(tmp_path):
    path = write(tmp_path, "model.py", USER_TARGET)
    for spec in (f"{path}:Net", str(path)):  # the name may be left out where there is one
        target, ref = load_target(spec)
        assert ref.name == "net"
        run = train_target(TargetConfig(target=ref, threads=1), target)
        assert run.steps == 30 and run.eval_steps == (9, 19, 29)
        assert run.eval_loss[-1] < run.eval_loss[0]


def test_a_run_gives_back_the_generators_and_settings_it_borrowed():
    torch.manual_seed(123)
    random.seed(123)
    np.random.seed(123)
    before = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    target, config = config_for("mlp", steps=3)
    train_target(config, target)
    assert torch.equal(torch.get_rng_state(), before[0])
    assert random.getstate() == before[1]
    assert (np.random.get_state()[1] == before[2]).all()
    assert (torch.get_num_threads(), torch.get_default_dtype()) == (threads, dtype)


def test_the_code_hash_is_part_of_the_config_id_and_the_spec_is_not(tmp_path):
    first = write(tmp_path, "a.py", USER_TARGET)
    same = write(tmp_path, "b.py", USER_TARGET)
    changed = write(tmp_path, "c.py", variant("lr=1e-2", "lr=2e-2"))
    ids = {
        path.name: TargetConfig(target=load_target(f"{path}:Net")[1]).config_id
        for path in (first, same, changed)
    }
    assert ids["a.py"] == ids["b.py"]
    assert ids["a.py"] != ids["c.py"]


def test_a_config_of_a_target_whose_code_changed_since_is_refused(tmp_path):
    path = write(tmp_path, "model.py", USER_TARGET)
    _, ref = load_target(f"{path}:Net")
    path.write_text(variant("lr=1e-2", "lr=3e-2"), encoding="utf-8")
    with pytest.raises(Exception, match="its code changed since this config was made"):
        prepare_target(TargetConfig(target=ref, threads=1))


def test_a_target_run_folder_reads_back_as_the_same_run(example_runs, tmp_path):
    run, _ = example_runs["mlp"]
    target, config = config_for("mlp")
    prepared = prepare_target(config, target)
    prepared.loop()
    state = prepared.state_dict()
    folder = write_target_run_folder(prepared.finish(), state, tmp_path / "run")
    loaded = load_target_run(folder)
    assert loaded == run
    assert loaded.timings.timed_steps == run.steps
    assert load_result(folder / "run.json").kind == "target-run"
    saved = torch.load(folder / "model.pth", weights_only=True)
    assert state_dict_hash(saved) == run.state_hash
    rows = (folder / "history.csv").read_text().splitlines()
    assert rows[0] == "step,train_loss,eval_loss" and len(rows) == run.steps + 1


def test_a_record_whose_parts_do_not_fit_is_refused(example_runs):
    run, _ = example_runs["mlp"]
    data = run.to_dict()
    short = {**data, "train_loss": data["train_loss"][:-1]}
    with pytest.raises(ValueError, match="train losses"):
        TargetRun.from_dict(short)
    late = {**data, "eval_steps": [*data["eval_steps"][:-1], run.steps]}
    with pytest.raises(ValueError, match="eval_steps"):
        TargetRun.from_dict(late)
    assert TargetRun.from_dict(data) == run


@pytest.mark.skipif(compiler_problem("cpu") is not None, reason=str(compiler_problem("cpu")))
def test_eager_and_compiled_train_the_mlp_alike_within_float32_tolerance():
    target, config = config_for("mlp", steps=8)
    eager = train_target(config, target)
    compiled = train_target(config.replace(engine="compiled"), target)
    tolerance = DEFAULT_TOLERANCES["float32"]
    for step, (a, b) in enumerate(zip(eager.train_loss, compiled.train_loss, strict=True)):
        assert tolerance.allows(b, a), (step, a, b)
    assert compiled.eval_steps == eager.eval_steps
    assert all(
        tolerance.allows(b, a) for a, b in zip(eager.eval_loss, compiled.eval_loss, strict=True)
    )
    # Compiling is timed apart from the loop, and the loop's steps are the rest.
    assert compiled.timings.compile_seconds > 0
    assert 0 < compiled.timings.timed_steps < 8


@pytest.mark.parametrize("evaluation", ["", ", eval=[]"])
def test_a_target_without_eval_batches_trains_and_records_no_eval(tmp_path, evaluation):
    text = variant(
        "return linreg.TargetData(train=loader, eval=[(x[200:], y[200:])])",
        f"return linreg.TargetData(train=loader{evaluation})",
    )
    target, ref = load_target(f"{write(tmp_path, 'model.py', text)}:Net")
    run = train_target(TargetConfig(target=ref, threads=1, steps=12), target)
    assert run.steps == 12 and run.eval_steps == () and run.eval_loss == ()
