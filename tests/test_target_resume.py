"""A target's run stopped at a step and finished from its checkpoint is the uninterrupted run
bit for bit: every example (the tutorial's, a shuffling DataLoader, BatchNorm and Dropout, a
transformer with AdamW, a warm-up then cosine schedule and clipping), through the checkpoint
file and through `linreg train --stop-at/--resume-from`. A resume that loses a piece names it; a
bad checkpoint or option is one line, exit 2, and writes nothing."""

from __future__ import annotations

import json

import pytest
import torch

from linreg.cli import main
from linreg.compare.target_resume import first_differing_piece
from linreg.engines.target_loop import prepare_target, train_target
from linreg.errors import CheckpointError
from linreg.results.checkpoint import save_checkpoint
from linreg.results.target_checkpoint import load_target_checkpoint, save_target_checkpoint
from linreg.target_config import TargetConfig
from linreg.target_loading import load_target
from tests.target_files import write
from tests.target_repro_files import FORGETFUL, STEPPED

EXAMPLES = ("tutorial", "mlp", "cnn", "chargpt")


def config_for(spec: str, **changes) -> tuple:
    target, ref = load_target(spec)
    return target, TargetConfig(target=ref, **{"size": "ci", "threads": 1, **changes})


def stop_and_resume(spec: str, tmp_path, stop_at: int | None = None):
    """The uninterrupted run; the run stopped at ``stop_at`` (default: an odd step past half,
    inside a pass of a shuffling loader), written, read back and finished; the pieces the
    stopped run had and those the resumed one restored."""
    target, config = config_for(spec)
    whole = train_target(config, target)
    stop_at = stop_at or whole.steps // 2 + 1
    stopped = prepare_target(config, target, stop_at=stop_at)
    stopped.loop()
    path = save_target_checkpoint(stopped.training_state(), tmp_path / f"{spec}.pt")
    state = load_target_checkpoint(path)
    resumed = prepare_target(state.config, resume_from=state)
    restored = resumed.pieces()
    resumed.loop()
    return whole, resumed.finish(), stopped.pieces(), restored


@pytest.mark.parametrize("spec", EXAMPLES)
def test_each_example_resumes_bit_for_bit_from_its_checkpoint(spec, tmp_path):
    whole, resumed, expected, restored = stop_and_resume(spec, tmp_path)
    assert first_differing_piece(restored, expected) is None
    assert resumed == whole  # every loss, every parameter's and buffer's bytes, the config
    assert resumed.resumed_from is not None and resumed.resumed_from.epoch == whole.steps // 2 + 1


def test_a_resume_inside_a_shuffled_pass_draws_that_passs_batches_again(tmp_path):
    # The MLP's loader has 16 batches a pass: step 21 is the sixth batch of the second pass.
    whole, resumed, expected, restored = stop_and_resume("mlp", tmp_path, stop_at=21)
    assert expected["data position"] == {"pass": 1, "batch": 5}
    assert restored["data position"] == expected["data position"]
    assert resumed.train_loss == whole.train_loss


def test_a_scheduler_that_saves_nothing_is_named_as_the_piece_lost(tmp_path):
    path = write(tmp_path, "forgets.py", FORGETFUL)
    whole, resumed, expected, restored = stop_and_resume(f"{path}:Small", tmp_path, stop_at=4)
    assert first_differing_piece(restored, expected) == "scheduler state: last_epoch 0, expected 4"
    assert resumed.train_loss[:4] == whole.train_loss[:4]
    assert resumed.train_loss != whole.train_loss


def test_a_scheduler_that_saves_its_state_resumes(tmp_path):
    path = write(tmp_path, "steps.py", STEPPED)
    whole, resumed, expected, restored = stop_and_resume(f"{path}:Small", tmp_path, stop_at=4)
    assert first_differing_piece(restored, expected) is None
    assert resumed == whole


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda p: p.update({"rng.numpy": "0" * 16}), "rng.numpy differs"),
        (
            lambda p: p.update({"data position": {"pass": 0, "batch": 3}}),
            "data position: pass 0, batch 3; expected pass 1, batch 5",
        ),
        (
            lambda p: p.pop("optimizer state: momentum_buffer of 0.weight"),
            "optimizer state: momentum_buffer of 0.weight missing",
        ),
    ],
)
def test_the_first_piece_that_differs_is_named_in_the_order_a_resume_restores(change, named):
    expected = {
        "step": 21,
        "optimizer state: momentum_buffer of 0.weight": {"dtype": "float32", "sha256": "ab"},
        "rng.numpy": "1" * 16,
        "data position": {"pass": 1, "batch": 5},
    }
    restored = json.loads(json.dumps(expected))
    change(restored)
    assert first_differing_piece(restored, expected).startswith(named)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_stop_at_then_resume_from_writes_the_uninterrupted_run(tmp_path, capsys):
    base = ("train", "--target", "cnn", "--size", "ci", "--threads", "1")
    code, _, err = run_cli(capsys, *base, "--out", str(tmp_path / "whole"))
    assert code == 0, err
    checkpoint = tmp_path / "cnn.pt"
    code, out, err = run_cli(capsys, *base, "--stop-at", "17", "--checkpoint", str(checkpoint))
    assert code == 0, err
    assert f"finish with linreg train --resume-from {checkpoint}" in out
    code, out, err = run_cli(
        capsys, "train", "--resume-from", str(checkpoint), "--out", str(tmp_path / "resumed")
    )
    assert code == 0, err
    whole, resumed = (
        json.loads((tmp_path / f / "run.json").read_text()) for f in ("whole", "resumed")
    )
    assert resumed["resumed_from"]["epoch"] == 17
    assert resumed["resumed_from"]["checkpoint"] == str(checkpoint.resolve())
    for key in ("config", "train_loss", "eval_steps", "eval_loss", "parameters", "state_hash"):
        assert resumed[key] == whole[key], key
    assert (tmp_path / "resumed" / "model.pth").read_bytes() == (
        tmp_path / "whole" / "model.pth"
    ).read_bytes()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The MLP stopped at step 10, as a checkpoint file."""
    target, config = config_for("mlp")
    prepared = prepare_target(config, target, stop_at=10)
    prepared.loop()
    folder = tmp_path_factory.mktemp("checkpoint")
    return save_target_checkpoint(prepared.training_state(), folder / "mlp.pt")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--target", "mlp", "--size", "ci", "--stop-at", "0"),
            "--stop-at: must be a step in [1, 59]",
        ),
        (
            ("--target", "mlp", "--size", "ci", "--stop-at", "60"),
            "--stop-at: must be a step in [1, 59]",
        ),
        (
            ("--target", "mlp", "--size", "ci", "--engine", "compiled", "--stop-at", "3"),
            "--engine: stopping at a step and resuming run on the eager engine only",
        ),
        (("--target", "mlp", "--checkpoint", "x.pt"), "--checkpoint: is where --stop-at writes"),
        (("--target", "mlp", "--lr", "0.1"), "--lr: is the tutorial's"),
    ],
)
def test_bad_stop_options_are_one_line_and_exit_2_and_write_nothing(
    tmp_path, capsys, args, expected
):
    code, _, err = run_cli(
        capsys, "--results", str(tmp_path / "results"), "train", "--threads", "1", *args
    )
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "results").exists() and not (tmp_path / "x.pt").exists()


def test_a_checkpoint_given_other_options_again_is_refused_naming_them(
    tmp_path, capsys, checkpoint
):
    code, _, err = run_cli(
        capsys,
        "train",
        "--resume-from",
        str(checkpoint),
        "--seed",
        "7",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 2 and err.count("\n") == 1
    assert "a checkpoint of another config (seed 7 here, 42 in the checkpoint)" in err
    assert not (tmp_path / "out").exists()


def test_the_same_options_given_again_are_accepted(tmp_path, capsys, checkpoint):
    code, _, err = run_cli(
        capsys,
        "train",
        "--target",
        "mlp",
        "--size",
        "ci",
        "--seed",
        "42",
        "--threads",
        "1",
        "--resume-from",
        str(checkpoint),
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0, err


def damaged(checkpoint, tmp_path, change) -> str:
    data = torch.load(checkpoint, weights_only=True)
    change(data)
    path = tmp_path / "damaged.pt"
    torch.save(data, path)
    return str(path)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["data"].update(generator=torch.zeros(3, dtype=torch.uint8)),
            "the data generator's state does not restore",
        ),
        (lambda d: d["rng"]["numpy"].update(position=9999), "numpy generator's position 9999"),
        (
            lambda d: d["history"].update(train_loss=d["history"]["train_loss"][:3]),
            "the train loss history holds 3 losses, not 10",
        ),
        (lambda d: d.update(step=0), "step 0 is not in [1, 59]"),
        (lambda d: d.update(torch="0.1"), "written by torch 0.1"),
        (lambda d: d.pop("optimizer"), "missing 'optimizer'"),
    ],
)
def test_a_damaged_checkpoint_is_refused_naming_what_is_wrong(
    tmp_path, capsys, checkpoint, change, expected
):
    path = damaged(checkpoint, tmp_path, change)
    code, _, err = run_cli(capsys, "train", "--resume-from", path, "--out", str(tmp_path / "o"))
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "o").exists()


def test_other_torch_files_are_refused_as_target_checkpoints(tmp_path, checkpoint):
    state = save_checkpoint({"w": torch.zeros(2)}, tmp_path / "model.pth")
    with pytest.raises(CheckpointError, match="not a target's training checkpoint"):
        load_target_checkpoint(state)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_target_checkpoint(truncated)
