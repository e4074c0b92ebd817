"""Bad input for a target gets one line and the right exit code, and leaves nothing half
written: 2 for bad input (a missing file, an import error named by file:line, a missing builder,
a non-scalar loss, an undeclared dtype or device), 1 for a failing check (a loss that goes NaN,
named by its step; a target that is nondeterministic)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from linreg.cli import main
from linreg.target import Size, TargetError
from linreg.target_loading import load_target
from tests.target_files import USER_TARGET, variant, write


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def train(tmp_path, capsys):
    """`linreg train --target SPEC ...` into tmp_path/out: (exit code, stderr)."""

    def run(spec: str, *args: str) -> tuple[int, str]:
        code, _, err = run_cli(capsys, "train", "--target", spec, "--threads", "1",
                               "--out", str(tmp_path / "out"), *args)  # fmt: skip
        return code, err

    return run


NAN_AT_STEP_3 = variant(
    "return linreg.TargetData(train=loader, eval=[(x[200:], y[200:])])",
    "batches = [(x[i:i + 20], y[i:i + 20]) for i in range(0, 200, 20)]\n"
    "        batches[3][0][0, 0] = float('nan')\n"
    "        return linreg.TargetData(train=batches, eval=[(x[200:], y[200:])])",
)
BAD_FILES = {
    "import error": (
        "import torch\nimport linreg\nimport no_such_module_for_linreg\n",
        "bad.py:3: ModuleNotFoundError: No module named 'no_such_module_for_linreg'",
    ),
    "syntax error": ("import linreg\n\nclass Net(linreg.Target:\n", "bad.py:3: SyntaxError"),
    "missing builder": (
        variant(
            "    def optimizer(self, params, size):\n", "    def _unused(self, params, size):\n"
        ),
        "Net lacks the optimizer builder (def optimizer(self, params, size)",
    ),
    "no ci size": (
        variant('"ci": {"steps": 30, "hidden": 16}, ', ""),
        'sizes has no "ci" size',
    ),
    "unknown dtype": (
        variant('dtypes = ("float32", "float64")', 'dtypes = ("float32", "float8")'),
        "dtypes names 'float8', which linreg does not know",
    ),
    "changes the default dtype": (
        variant("import linreg\n", "import linreg\n\ntorch.set_default_dtype(torch.float64)\n"),
        "importing it changed torch's default dtype (torch.float32 → torch.float64)",
    ),
    "non-scalar loss": (
        variant("return nn.MSELoss()", "return nn.MSELoss(reduction='none')"),
        "its loss returned a tensor of shape (20, 1), not a scalar",
    ),
    "model raises": (
        variant("nn.Linear(3, size.hidden)", "nn.Linear(3, size.width)"),
        "its model builder raised: ",
        "bad.py:13: AttributeError: size 'full' has no knob 'width'",
    ),
    "forward raises": (
        variant("nn.Linear(3, size.hidden)", "nn.Linear(4, size.hidden)"),
        "step 0 raised ",
        "RuntimeError: mat1 and mat2 shapes cannot be multiplied",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_target_file_is_one_line_and_exit_2_and_writes_nothing(tmp_path, train, case):
    text, *expected = BAD_FILES[case]
    path = write(tmp_path, "bad.py", text)
    code, err = train(f"{path}:Net")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("linreg: error: --target: "), err
    assert all(part in err for part in expected), err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_a_missing_file_is_named(tmp_path, train):
    code, err = train(str(tmp_path / "nowhere.py") + ":Net")
    assert code == 2 and "nowhere.py: no such file" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("no_such_package_for_linreg.model:Net", "no module named 'no_such_package_for_linreg'"),
        ("linreg.targets.mlp:Nope", "defines no 'Nope' (targets defined there: Mlp)"),
        ("linreg.config:TrainConfig", "TrainConfig is not a class deriving from linreg.Target"),
    ],
)
def test_a_module_spec_that_names_no_target_is_one_line(train, spec, expected):
    code, err = train(spec)
    assert code == 2 and expected in err and err.count("\n") == 1, err


def test_a_loss_that_goes_nan_stops_naming_its_step_exit_1(tmp_path, train):
    path = write(tmp_path, "nan.py", NAN_AT_STEP_3)
    code, err = train(f"{path}:Net")
    assert code == 1
    assert err.strip() == (
        "linreg: training diverged: train loss is nan at step 3; nothing was kept"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--dtype", "bfloat16"), "declares no dtype 'bfloat16' (it declares float32, float64)"),
        (("--device", "mps"), "declares no device 'mps' (it declares cpu, cuda)"),
        (("--size", "huge"), "declares no size 'huge' (it declares ci, full)"),
        (("--engine", "batched"), "declares no engine 'batched'"),
    ],
)
def test_asking_for_what_the_target_does_not_declare_is_one_line(tmp_path, train, args, expected):
    path = write(tmp_path, "model.py", USER_TARGET)
    code, err = train(f"{path}:Net", *args)
    assert code == 2 and expected in err and err.count("\n") == 1, err


@pytest.mark.parametrize("option", ["--lr", "--epochs"])
def test_the_tutorials_options_are_refused_with_another_target(train, option):
    code, err = train("mlp", option, "3")
    assert code == 2 and f"{option}: is the tutorial's" in err


def test_a_targets_options_are_refused_with_the_tutorial(capsys):
    code, _, err = run_cli(capsys, "train", "--steps", "3")
    assert code == 2 and "--steps: is a target's" in err


def test_train_target_writes_a_run_folder_and_says_so(tmp_path, train, capsys):
    code, err = train("mlp", "--size", "ci", "--steps", "4")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "history.csv", "model.pth", "run.json"
    ]  # fmt: skip


def test_target_new_writes_a_starting_target_that_trains_and_refuses_an_existing_file(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "target", "new", "my_model")
    assert code == 0 and "linreg train --target my_model.py:MyModel" in out
    text = (tmp_path / "my_model.py").read_text()
    code, _, err = run_cli(capsys, "target", "new", "my_model")
    assert code == 2 and "my_model.py: already exists" in err
    assert (tmp_path / "my_model.py").read_text() == text
    code, out, err = run_cli(capsys, "train", "--target", "my_model.py:MyModel", "--size", "ci",
                             "--threads", "1", "--out", "run")  # fmt: skip
    assert code == 0, err
    assert "train: OK: mymodel trained 50 steps" in out


def test_target_check_says_what_a_target_supports(capsys):
    code, out, err = run_cli(capsys, "target", "check", "mlp")
    assert code == 0, err
    assert "two float32 runs: bit-identical" in out and "target check: OK: mlp" in out
    for dtype in ("float32", "float64", "bfloat16"):
        assert dtype in out


def test_target_check_fails_a_nondeterministic_target(tmp_path, capsys):
    # Drawn from the operating system's entropy, not from the generator the harness seeds.
    unseeded = variant("x = torch.randn(256, 3, generator=generator)",
                       "x = torch.randn(256, 3, generator=torch.Generator().manual_seed("
                       "int.from_bytes(__import__('os').urandom(4), 'big')))")  # fmt: skip
    path = write(tmp_path, "noisy.py", unseeded)
    code, _, err = run_cli(capsys, "target", "check", f"{path}:Net")
    assert code == 1
    assert err.startswith("linreg: target check: FAIL: nondeterministic: two float32 runs")
    assert "differ first in the train loss at step 0" in err


def test_a_size_is_read_only_and_names_a_missing_knob():
    size = Size("ci", {"steps": 3, "hidden": 8})
    assert (size.hidden, size["steps"], size.name) == (8, 3, "ci")
    assert dict(size) == {"steps": 3, "hidden": 8}
    with pytest.raises(AttributeError, match="read-only"):
        size.hidden = 9
    with pytest.raises(AttributeError, match="has no knob 'width' \\(it has hidden, steps\\)"):
        _ = size.width


def test_a_spec_that_is_not_text_is_refused():
    with pytest.raises(TargetError, match=r"give FILE\.py:NAME"):
        load_target("  ")


@pytest.mark.parametrize("command", [["target"], ["target", "new"], ["target", "check"]])
def test_target_help_loads_no_torch_and_fits_80_columns(tmp_path, command):
    code = (
        "import sys, os\n"
        "os.environ['COLUMNS'] = '80'\n"
        "from linreg.cli import main\n"
        f"main({[*command, '--help']!r})\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=tmp_path)  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines[-1] == "NO TORCH"
    assert max(len(line) for line in lines) <= 80
    assert not [line for line in lines if "…" in line]
