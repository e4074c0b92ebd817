"""`linreg repro --target`: a target's configs trained twice in worker processes, judged against
float64 quantity by quantity, stopped half-way and resumed in a fresh process.

A planted nondeterministic target (its forward adds noise from a source the harness does not
seed) is reported nondeterministic, naming the quantity and step where two runs first part,
exit 1; a planted resume bug (a scheduler that saves nothing) names the scheduler; an honest
target's set holds every check, says its figures per quantity, and resumes when interrupted;
float32 against float64 on the transformer names the first quantity beyond float32's tolerance
by parameter and step; bad input is one line, exit 2, nothing started.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from linreg.cli import main
from linreg.cli.console import console
from linreg.compare.target_first_difference import first_beyond_tolerance
from linreg.compare.target_numerics import run_figures
from linreg.engines.target_loop import prepare_target
from linreg.engines.target_trace import TargetTrace, trace_target
from linreg.results import kinds
from linreg.results.load import load_target_checks
from linreg.suites import replay_sides
from linreg.suites.target_repro import start_result_dir
from linreg.suites.target_repro_options import TargetReproMatrix, TargetReproOptions
from linreg.target_config import TargetConfig
from linreg.target_loading import load_target
from linreg.tolerance import DEFAULT_TOLERANCES
from tests.target_files import write
from tests.target_repro_files import (
    FORGETFUL_SCHEDULER,
    FORGETFUL_SCHEDULER_CLASS,
    NOISY_FORWARD,
    small_target,
)

SMALL_MATRIX = ("--seeds", "0", "--threads", "1", "--devices", "cpu")


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(console, "width", 300)


def repro(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["repro", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@contextlib.contextmanager
def no_replay_worker():
    """A replay worker started for a side fails the test: a repro run's copies replay."""

    def started(*args, **kwargs):
        raise AssertionError(f"a replay worker was started: {args}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_sides, "run_module", started)
        yield


def only_set(folder):
    [found] = [p for p in folder.iterdir() if p.is_dir()]
    return found


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """A target with two planted faults, each for its own check to name: noise from an
    unseeded source in its forward, and a scheduler whose state_dict saves nothing."""
    folder = tmp_path_factory.mktemp("faulty")
    text = small_target(
        extra=FORGETFUL_SCHEDULER_CLASS, methods=NOISY_FORWARD + FORGETFUL_SCHEDULER
    )
    path = write(folder, "faulty.py", text)
    with no_replay_worker():  # the copies' workers replay, one side each
        code = main(
            [
                "repro",
                "--target",
                f"{path}:Small",
                "--dtypes",
                "float64",
                *SMALL_MATRIX,
                "--out",
                str(folder / "sets"),
            ]
        )
    result_dir = only_set(folder / "sets")
    return code, load_target_checks(result_dir / kinds.REPRO_CHECKS_FILE)


@pytest.mark.slow
def test_a_nondeterministic_target_fails_naming_the_first_quantity_and_step(faulty):
    code, record = faulty
    assert code == 1
    [determinism] = [c for c in record.checks if c.kind == "determinism"]
    assert determinism.status == "fails"
    # The noise enters at the forward: the loss of step 0 is the first quantity to differ.
    assert determinism.reason.startswith("nondeterministic: the loss at step 0 (by ")
    found = determinism.difference
    assert (found.kind, found.step, found.quantity) == ("first difference", 0, "loss")
    assert found.ulps > 0 and found.max_abs > 0


@pytest.mark.slow
def test_a_resume_that_loses_the_schedulers_state_names_the_scheduler(faulty):
    _, record = faulty
    [resume] = [c for c in record.checks if c.kind == "resume"]
    assert resume.status == "fails"
    assert resume.reason.startswith("at step 4: scheduler state: last_epoch 0, expected 4")


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    """The MLP's set (float32 and float64, one seed, one thread) as an interrupted set is found:
    its manifest written, a killed write's temp file and staged run folder left behind; then
    finished by `linreg repro --resume`."""
    target, ref = load_target("mlp")
    matrix = TargetReproMatrix(
        target=ref,
        size="ci",
        steps=target.sizes["ci"]["steps"],
        devices=("cpu",),
        dtypes=("float32", "float64"),
        seeds=(0,),
        threads=(1,),
    )
    result_dir = start_result_dir(TargetReproOptions(matrix), tmp_path_factory.mktemp("honest"))
    (result_dir / "first").mkdir()
    (result_dir / "first" / ".run.json.x1.partial").write_text("{")
    (result_dir / "second" / ".0123abcd.x2.partial").mkdir(parents=True)
    with no_replay_worker():  # the copies' workers replay, one side each
        code = main(["repro", "--resume", str(result_dir)])
    return code, result_dir, load_target_checks(result_dir / kinds.REPRO_CHECKS_FILE)


@pytest.mark.slow
def test_an_honest_targets_set_holds_and_states_its_figures_per_quantity(honest):
    code, _, record = honest
    assert code == 0 and record.ok
    assert {(c.kind, c.pair, c.status) for c in record.checks} == {
        ("determinism", "determinism", "holds"),
        ("consistency", "dtype", "holds"),
        ("resume", "resume", "holds"),
    }
    [dtype] = [c for c in record.checks if c.kind == "consistency"]
    names = [q.quantity for q in dtype.quantities]
    model = load_target("mlp")[0].model(load_target("mlp")[0].size("ci"))
    assert names == ["train loss", "eval loss", *model.state_dict()]
    for q in dtype.quantities:
        assert q.rule == "rms" and q.holds and 0 <= q.error <= q.allowed
    # A pair of dtypes is replayed to the first quantity beyond the tolerance, or the nearest.
    assert dtype.difference.kind in ("beyond tolerance", "within tolerance")
    assert dtype.difference.quantity is not None and dtype.difference.step is not None


@pytest.mark.slow
def test_an_interrupted_set_is_finished_by_resume_and_then_refuses_another(honest, capsys):
    code, result_dir, _ = honest
    assert code == 0
    assert not list(result_dir.rglob("*.partial"))  # what the killed writes left is gone
    assert len(list((result_dir / "second").iterdir())) == 2  # the float64 reference, the twin
    code, _, err = repro(capsys, "--resume", str(result_dir))
    assert code == 2 and "already finished" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--target", "nowhere.py:Net"), "nowhere.py: no such file"),
        (
            ("--target", "mlp", "--dtypes", "float16"),
            "--dtypes: mlp declares no dtype 'float16' (it declares float32, float64, bfloat16)",
        ),
        (("--target", "mlp", "--size", "huge"), "--size: mlp has no size 'huge'"),
        (("--target", "mlp", "--lr", "0.1"), "--lr: is the tutorial's; --target mlp sets its own"),
        (("--size", "ci"), "--size: is a target's (--target SPEC)"),
        (("--target", "mlp", "--seeds", "x"), "--seeds"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_and_starts_nothing(tmp_path, capsys, args, expected):
    code, _, err = repro(capsys, *args, "--out", str(tmp_path / "sets"))
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "sets").exists()


@pytest.fixture(scope="module")
def transformer(tmp_path_factory):
    """The transformer at its ci size in float32 and float64 (seed 42, one thread): each run,
    its final state, and its replay of the first steps, values kept."""
    target, ref = load_target("chargpt")
    folder = tmp_path_factory.mktemp("transformer")
    out = {}
    for dtype in ("float32", "float64"):
        config = TargetConfig(target=ref, size="ci", threads=1, dtype=dtype, steps=20)
        prepared = prepare_target(config, target)
        prepared.loop()
        trace_target(config, until=4, keep_from=0, folder=folder / dtype)
        out[dtype] = (prepared.finish(), prepared.state_dict(), TargetTrace.load(folder / dtype))
    return out


def test_float32_against_float64_on_the_transformer_is_judged_per_quantity(transformer):
    run32, state32, _ = transformer["float32"]
    run64, state64, _ = transformer["float64"]
    quantities = run_figures(run32, state32, run64, state64, DEFAULT_TOLERANCES["float32"])
    assert [q.quantity for q in quantities[:2]] == ["train loss", "eval loss"]
    assert [q.quantity for q in quantities[2:]] == list(state64)
    for q in quantities:
        # The verdict is the figures' own: RMS error against atol + rtol·RMS(float64).
        assert q.holds == (q.error <= q.allowed), q
        assert q.relative is None or q.relative > 0  # float32 is not float64


def test_float32_against_float64_names_the_first_quantity_beyond_the_tolerance(transformer):
    trace32, trace64 = transformer["float32"][2], transformer["float64"][2]
    tolerance = DEFAULT_TOLERANCES["float32"]
    found = first_beyond_tolerance(trace32, trace64, tolerance, until=4)
    # The rule, walked again here: no earlier quantity in step order leaves the tolerance.
    first = None
    for step in range(5):
        c_values, r_values = trace32.values(step), trace64.values(step)
        for quantity in trace32.order:
            c, r = c_values[quantity].to(torch.float64), r_values[quantity]
            if bool(((c - r).abs() > tolerance.atol + tolerance.rtol * r.abs()).any()):
                first = (step, quantity)
                break
        if first is not None:
            break
    if first is None:
        assert found.kind == "within tolerance"
    else:
        assert found.kind == "beyond tolerance" and (found.step, found.quantity) == first
        assert found.max_abs > found.allowed
        # Named by module path: a gradient or a parameter of the model.
        names = [
            n
            for n, _ in load_target("chargpt")[0]
            .model(load_target("chargpt")[0].size("ci"))
            .named_parameters()
        ]
        assert found.quantity.removeprefix("grad ") in names or found.quantity == "loss"
