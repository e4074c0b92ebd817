"""The repro matrix's resume check, and its optimizer axes.

A run stopped half-way, checkpointed, and finished in a fresh worker process must restore every
piece of state the stopped run had and then be its uninterrupted run bit for bit. The tests break
a resume on purpose through the resume check's test-only variable
``LINREG_TEST_RESUME_LEAVES_OUT`` (linreg.suites.resume_worker.LEAVE_OUT_VARIABLE): set to
``momentum_buffer`` the worker drops SGD's momentum buffers from what it restores, set to
``adam_step`` it sets Adam's step counts back to 0. It is read only where a run is resumed, and
only these tests set it.
"""

from __future__ import annotations

import pytest

from linreg.cli import main
from linreg.cli.console import console
from linreg.compare.resume import first_missing_piece
from linreg.config import TrainConfig
from linreg.report.checks import describe
from linreg.results.files import read_json
from linreg.results.kinds import REPRO_CHECKS_FILE as CHECKS
from linreg.results.repro_checks import ReproCheck
from linreg.suites.repro import ReproError, repro, resume_repro, start_result_dir
from linreg.suites.repro_options import ReproMatrix, ReproOptions
from linreg.suites.repro_resume import (
    RESUME_DIR,
    checkpoint_file,
    point_file,
    write_resume_points,
)
from linreg.suites.resume_worker import LEAVE_OUT_VARIABLE

SHORT = TrainConfig(epochs=40, eval_every=10)  # resumed at epoch 20


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(console, "width", 300)


def matrix(**axes) -> ReproMatrix:
    base = {"devices": ("cpu",), "dtypes": ("float32",), "seeds": (42,), "threads": (1,)}
    return ReproMatrix(**{**base, **axes}, base=SHORT)


def run(tmp_path, **axes):
    return repro(ReproOptions(matrix(**axes), reference_dir=None), results_root=tmp_path)


def resume_checks(report):
    return {c.subject: c for c in report.checks if c.kind == "resume"}


def test_the_default_matrix_resumes_each_seeds_cpu_float32_one_thread_run():
    configs = ReproMatrix(devices=("cpu", "cuda")).resume_configs()
    assert [(c.seed, c.device, c.dtype, c.threads, c.engine) for c in configs] == [
        (seed, "cpu", "float32", 1, "eager") for seed in (0, 1, 42)
    ]


def test_the_optimizer_axes_leave_the_default_matrix_its_id():
    assert ReproMatrix(devices=("cpu",)).matrix_id == "001f000b"  # as before the axes existed
    assert ReproMatrix(devices=("cpu",), optimizers=("sgd", "adam")).matrix_id != "001f000b"


def test_adam_runs_once_whatever_the_momentums():
    settings = matrix(optimizers=("sgd", "adam"), momentums=(0.0, 0.9)).optimizer_settings()
    assert settings == [
        {"optimizer": "sgd", "momentum": 0.0},
        {"optimizer": "sgd", "momentum": 0.9},
        {"optimizer": "adam", "momentum": 0.0},
    ]


def test_each_optimizer_setting_is_resumed_and_compared_only_with_its_own(tmp_path, capsys):
    report = run(tmp_path, optimizers=("sgd", "adam"), momentums=(0.0, 0.9),
                 engines=("eager", "batched"))  # fmt: skip
    assert report.ok, [c.reason for c in report.failures]
    checks = resume_checks(report)
    assert sorted(checks) == [
        "cpu float32 seed 42 threads 1 eager",
        "cpu float32 seed 42 threads 1 eager adam",
        "cpu float32 seed 42 threads 1 eager momentum 0.9",
    ]
    for check in checks.values():
        assert check.comparison.level == "a"
        assert check.reason == "level a; every piece of state restored at epoch 20"
    # Runs of two optimizer settings are two trainings: no check sets one against the other.
    for check in report.checks:
        if check.kind == "consistency":
            setting = check.subject.partition(" eager")[2] or check.subject.partition(" batched")[2]
            assert check.against.endswith(f"eager{setting}"), (check.subject, check.against)
    # The batched engine steps plain SGD only: its other settings are skipped, with the reason.
    assert [subject for subject, _ in report.skipped] == [
        "cpu float32 seed 42 threads 1 batched momentum 0.9",
        "cpu float32 seed 42 threads 1 batched adam",
    ]
    written = read_json(report.result_dir / CHECKS)
    assert written["skipped"][1]["reason"].startswith("optimizer: adam runs on the eager engine")
    # The resume files are not runs of the result set: it compares with itself as before.
    assert main(["compare", str(report.result_dir), str(report.result_dir)]) == 0
    # Seven runs, each its own (run labels name the optimizer setting): 3 settings × 2 dtypes,
    # and batched sgd.
    out = capsys.readouterr().out
    pairs = [line.split() for line in out.splitlines() if " determinism " in line]
    assert len(pairs) == 7, out
    assert all(words[2:4] == ["bit-identical", "bit-identical"] for words in pairs), out
    assert "(7 pairs of the same config on the same stack" in out


def test_a_resume_that_drops_sgds_momentum_buffer_fails_naming_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(LEAVE_OUT_VARIABLE, "momentum_buffer")
    out = tmp_path / "repro"
    args = ["--devices", "cpu", "--dtypes", "float32", "--seeds", "42", "--threads", "1",
            "--momentums", "0.9", "--epochs", "40", "--no-golden", "--out", str(out)]  # fmt: skip
    assert main(["repro", *args]) == 1
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "FAIL resume" in line]
    assert line.startswith(
        "FAIL resume (resume): cpu float32 seed 42 threads 1 eager momentum 0.9 vs its "
        "uninterrupted run: at epoch 20: optimizer state: momentum_buffer of linear.weight "
        "missing; the finished run: level "
    )


def test_a_resume_that_resets_adams_step_count_fails_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv(LEAVE_OUT_VARIABLE, "adam_step")
    report = run(tmp_path, optimizers=("adam",))
    (check,) = resume_checks(report).values()
    assert not check.holds and not report.ok
    assert check.reason.startswith(
        "at epoch 20: optimizer state: Adam step count 0, expected 20 (linear.weight); "
        "the finished run: level "
    )
    assert check.comparison.divergence.bitwise == 20  # the first epoch the broken resume ran
    # Every other check still holds: only the resume was broken.
    assert [c.kind for c in report.failures] == ["resume"]


def test_an_interrupted_repro_keeps_its_resume_points(tmp_path):
    options = ReproOptions(matrix(momentums=(0.9,)), reference_dir=None)
    result_dir = start_result_dir(options, tmp_path)
    resume_dir = result_dir / RESUME_DIR
    [config] = options.matrix.resume_configs()
    write_resume_points([config], resume_dir)
    kept = point_file(resume_dir, config).read_bytes()
    report = resume_repro(result_dir)
    assert report.ok and point_file(resume_dir, config).read_bytes() == kept


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--momentums", "0,1.5"], r"--momentums: every value must be in [0, 1), got '1.5'"),
        (["--optimizers", "rmsprop"], "--optimizers: unknown 'rmsprop'; choose from sgd, adam"),
    ],
)
def test_bad_optimizer_axes_are_one_line_and_exit_2(args, message, tmp_path, capsys):
    assert main(["repro", *args, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"linreg: error: {message}"
    assert not list(tmp_path.iterdir())


EXPECTED = {
    "epoch": 20,
    "model: linear.weight": {"dtype": "float32", "shape": [1, 1], "values": [0.5]},
    "optimizer: hyperparameters": [{"lr": 0.01, "betas": [0.9, 0.999]}],
    "optimizer state: step of linear.weight": {"dtype": "float32", "values": [20.0]},
    "random generator: torch cpu": "00aa",
    "history: train loss": [1.0, 0.5],
}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({}, None),
        ({"epoch": 0}, "epoch: 0, expected 20"),
        ({"model: linear.weight": None}, "model: linear.weight missing"),
        (
            {"model: linear.weight": {"dtype": "float32", "shape": [1, 1], "values": [0.25]}},
            "model: linear.weight: [0.25], expected [0.5]",
        ),
        (
            {"optimizer state: step of linear.weight": {"dtype": "float32", "values": [0.0]}},
            "optimizer state: Adam step count 0, expected 20 (linear.weight)",
        ),
        (
            {"random generator: torch cpu": "00bb"},
            "random generator: torch cpu differs (state 00bb, expected 00aa)",
        ),
        (
            {"history: train loss": [1.0, 0.75]},
            "history: train loss differs from epoch 1 (0.75, expected 0.5)",
        ),
        (
            {"optimizer state: exp_avg of linear.weight": {}},
            "optimizer state: exp_avg of linear.weight restored, the uninterrupted run had none",
        ),
    ],
)
def test_the_first_piece_that_differs_is_named(changes, named):
    restored = {k: v for k, v in {**EXPECTED, **changes}.items() if v is not None}
    assert first_missing_piece(restored, EXPECTED) == named


def test_pieces_are_named_in_their_order_not_alphabetically():
    restored = {k: v for k, v in EXPECTED.items() if not k.startswith(("model", "history"))}
    assert first_missing_piece(restored, EXPECTED) == "model: linear.weight missing"


def test_the_report_words_a_failed_resume_by_the_missing_piece():
    comparison = {"candidate": "s", "reference": "its uninterrupted run", "level": "c",
                  "horizon": 20, "first_bitwise_difference_epoch": 20, "quantities": {},
                  "final_candidate": {}, "final_reference": {}}  # fmt: skip
    reason = "at epoch 20: optimizer state: momentum_buffer of linear.weight missing"
    check = {"kind": "resume", "pair": "resume", "subject": "s", "against": "its uninterrupted run",
             "required": "a", "holds": False, "comparison": comparison,
             "reason": reason}  # fmt: skip
    text = describe(ReproCheck.from_dict(check))
    assert text.required.startswith("every piece of state restored")
    assert text.reached == check["reason"]
    assert text.title == "resume: s vs its uninterrupted run"


def test_a_damaged_checkpoint_fails_the_run_naming_the_resume_worker(tmp_path):
    options = ReproOptions(matrix(), reference_dir=None)
    result_dir = start_result_dir(options, tmp_path)
    resume_dir = result_dir / RESUME_DIR
    [config] = options.matrix.resume_configs()
    write_resume_points([config], resume_dir)
    checkpoint = checkpoint_file(resume_dir, config)
    checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    with pytest.raises(ReproError, match=r"the resume worker failed: .*truncated or corrupt"):
        resume_repro(result_dir)
