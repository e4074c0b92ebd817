"""Training checkpoints and resumed runs: `linreg train --stop-at` and `--resume-from`.

A run stopped at an epoch, its checkpoint read back in this process or another, and finished,
is the uninterrupted run bit for bit, for every optimizer setting; a checkpoint of another
config, torch or dtype, or a damaged one, is refused in one line.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from linreg.cli import main
from linreg.config import TrainConfig
from linreg.engines import train
from linreg.engines.resumable import prepare_resumable, resume, train_until
from linreg.errors import CheckpointError, ConfigError, ResultSetError
from linreg.results.checkpoint import load_checkpoint
from linreg.results.load import load_run
from linreg.results.training_checkpoint import (
    load_training_checkpoint,
    save_training_checkpoint,
)
from linreg.run import Resumption
from linreg.training_state import capture_rng, pieces, set_rng

REPO_ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "sgd": {},
    "sgd momentum 0.9": {"momentum": 0.9},
    "adam": {"optimizer": "adam"},
}


@pytest.fixture(params=list(SETTINGS), ids=list(SETTINGS))
def config(request) -> TrainConfig:
    return TrainConfig(**SETTINGS[request.param])


def same_run(resumed, uninterrupted) -> None:
    assert resumed.history == uninterrupted.history
    assert resumed.state_hash == uninterrupted.state_hash
    assert resumed.initial_state == uninterrupted.initial_state
    assert resumed.config == uninterrupted.config


def test_a_run_stopped_and_resumed_through_a_file_is_the_uninterrupted_run(config, tmp_path):
    state = train_until(config, 250)
    path = save_training_checkpoint(state, tmp_path / "at-250.pt")
    same_run(resume(load_training_checkpoint(path)), train(config))


def test_a_run_stopped_twice_is_still_the_same_run(config, tmp_path):
    first = save_training_checkpoint(train_until(config, 100), tmp_path / "at-100.pt")
    state = train_until(config, 300, resume_from=load_training_checkpoint(first))
    second = save_training_checkpoint(state, tmp_path / "at-300.pt")
    same_run(resume(load_training_checkpoint(second)), train(config))


@pytest.mark.parametrize("epoch", [0, 1, 499, 500])
def test_any_epoch_is_a_resume_point(epoch):
    config = TrainConfig(momentum=0.9)
    same_run(resume(train_until(config, epoch)), train(config))


def test_the_checkpoint_holds_what_the_optimizer_keeps(tmp_path):
    momentum = load_training_checkpoint(
        save_training_checkpoint(train_until(TrainConfig(momentum=0.9), 250), tmp_path / "m.pt")
    )
    assert set(momentum.optimizer["state"][0]) == {"momentum_buffer"}
    adam = load_training_checkpoint(
        save_training_checkpoint(train_until(TrainConfig(optimizer="adam"), 250), tmp_path / "a.pt")
    )
    assert set(adam.optimizer["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert adam.optimizer["state"][0]["step"].item() == 250
    assert adam.epoch == 250 and adam.train_loss.shape == (250,) and adam.test_loss.shape == (5,)


def test_plain_torch_reads_the_checkpoint_with_weights_only(tmp_path):
    path = save_training_checkpoint(
        train_until(TrainConfig(optimizer="adam"), 10), tmp_path / "c.pt"
    )
    data = torch.load(path, weights_only=True)
    assert data["kind"] == "linreg-training-checkpoint" and data["epoch"] == 10
    assert set(data["rng"]) >= {"torch", "python", "numpy"}
    assert set(data["model"]) == {"linear.weight", "linear.bias"}


def test_the_resumed_loop_draws_from_the_checkpoints_generators_and_gives_them_back():
    """The loop of a resumed run sees the generators as they were at the checkpoint (on_eval runs
    inside it); the process's own are back when it returns."""
    torch.manual_seed(7)
    random.seed(7)
    np.random.seed(7)
    state = train_until(TrainConfig(), 250)
    torch.manual_seed(8)
    random.seed(8)
    np.random.seed(8)
    before = capture_rng()
    seen = []
    resume(state, on_eval=lambda *_: seen.append(capture_rng()) if not seen else None)
    (inside,) = seen
    assert torch.equal(inside["torch"], state.rng["torch"])
    assert torch.equal(inside["python"]["internal"], state.rng["python"]["internal"])
    assert torch.equal(inside["numpy"]["keys"], state.rng["numpy"]["keys"])
    after = capture_rng()
    assert torch.equal(after["torch"], before["torch"])
    assert torch.equal(after["python"]["internal"], before["python"]["internal"])
    assert torch.equal(after["numpy"]["keys"], before["numpy"]["keys"])


def test_what_a_resumed_process_restores_is_what_the_stopped_run_had():
    for changes in SETTINGS.values():
        state = train_until(TrainConfig(**changes), 250)
        restored = prepare_resumable(state.config, resume_from=state).training_state()
        assert pieces(restored) == pieces(state)


def test_the_cli_resumes_in_a_fresh_process_bit_for_bit(tmp_path):
    """--stop-at in one process, --resume-from in another: the run folders of the resumed and the
    uninterrupted run hold the same run and the same model.pth."""

    def linreg(*args: str) -> None:
        command = [sys.executable, "-m", "linreg", "train", "--optimizer", "adam", *args]
        env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    linreg("--stop-at", "250", "--checkpoint", "at-250.pt")
    linreg("--resume-from", "at-250.pt", "--out", "resumed")
    linreg("--out", "uninterrupted")
    same_run(load_run(tmp_path / "resumed"), load_run(tmp_path / "uninterrupted"))
    resumed, uninterrupted = tmp_path / "resumed", tmp_path / "uninterrupted"
    assert (resumed / "model.pth").read_bytes() == (uninterrupted / "model.pth").read_bytes()
    assert (resumed / "history.csv").read_text() == (uninterrupted / "history.csv").read_text()


def test_the_cli_says_where_the_checkpoint_went_and_how_to_finish(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--momentum", "0.9", "--stop-at", "100"]) == 0
    out = capsys.readouterr().out
    (written,) = (tmp_path / "results" / "checkpoints").glob("*-epoch100.pt")
    assert (
        f"finish with linreg train --resume-from {Path('results/checkpoints') / written.name}"
        in (" ".join(out.split()))
    )
    assert main(["train", "--resume-from", str(written), "--momentum", "0.9", "--out", "r"]) == 0
    same_run(load_run(tmp_path / "r"), train(TrainConfig(momentum=0.9)))


def test_a_resumed_runs_record_names_the_checkpoint_its_hash_and_epoch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--stop-at", "250", "--checkpoint", "at-250.pt"]) == 0
    assert main(["train", "--resume-from", "at-250.pt", "--out", "resumed"]) == 0
    assert main(["train", "--out", "whole"]) == 0
    record = json.loads((tmp_path / "resumed" / "run.json").read_text())
    assert record["resumed_from"] == {
        "checkpoint": str(tmp_path / "at-250.pt"),
        "sha256": hashlib.sha256((tmp_path / "at-250.pt").read_bytes()).hexdigest(),
        "epoch": 250,
    }
    assert "resumed_from" not in json.loads((tmp_path / "whole" / "run.json").read_text())
    resumed, whole = load_run(tmp_path / "resumed"), load_run(tmp_path / "whole")
    assert resumed.resumed_from == Resumption(str(tmp_path / "at-250.pt"),
                                              record["resumed_from"]["sha256"], 250)  # fmt: skip
    assert whole.resumed_from is None
    same_run(resumed, whole)  # how it was trained, not what it is


def test_run_records_written_before_resumption_was_recorded_still_read():
    from linreg.paths import REFERENCE_DIR

    reference = REFERENCE_DIR / "cpu-float32-seed42-threads1-eager.json"
    assert "resumed_from" not in json.loads(reference.read_text())
    assert load_run(reference).resumed_from is None


@pytest.mark.parametrize(
    ("resumed_from", "message"),
    [
        ({"checkpoint": "a.pt", "sha256": "00", "epoch": 900}, r"resumed_from.epoch 900 is not"),
        ({"checkpoint": 3, "sha256": "00", "epoch": 1}, "checkpoint and sha256 must be strings"),
        ("a.pt", "resumed_from must be an object"),
    ],
)
def test_a_malformed_resumption_is_refused_by_name(tmp_path, resumed_from, message):
    record = {"kind": "run", "schema_version": 1,
              **train(TrainConfig(epochs=20, eval_every=5)).to_dict(),
              "resumed_from": resumed_from}  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(record))
    with pytest.raises(ResultSetError, match=message):
        load_run(tmp_path / "run.json")


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    return save_training_checkpoint(train_until(TrainConfig(), 250), tmp_path / "at-250.pt")


def refused(capsys, *args: str) -> str:
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--lr", "0.1"],
            r"a checkpoint of another config \(lr 0.1 here, 0.01 in the checkpoint\)",
        ),
        (["--dtype", "float64"], r"\(dtype 'float64' here, 'float32' in the checkpoint\)"),
        (["--optimizer", "adam"], r"\(optimizer 'adam' here, 'sgd' in the checkpoint\)"),
    ],
)
def test_a_checkpoint_of_another_config_is_refused_naming_the_fields(
    checkpoint, capsys, tmp_path, options, message
):
    err = refused(capsys, "--resume-from", str(checkpoint), *options, "--out", str(tmp_path / "r"))
    assert err.startswith(f"linreg: error: {checkpoint}: ")
    assert re.search(message, err), err
    assert not (tmp_path / "r").exists()


def test_options_given_again_as_they_were_are_accepted(checkpoint, tmp_path):
    out = tmp_path / "r"
    assert main(["train", "--resume-from", str(checkpoint), "--lr", "0.01", "--out", str(out)]) == 0
    same_run(load_run(out), train(TrainConfig()))


def rewritten(checkpoint: Path, tmp_path: Path, **changes) -> Path:
    data = torch.load(checkpoint, weights_only=True)
    data.update(changes)
    path = tmp_path / "changed.pt"
    torch.save(data, path)
    return path


def test_a_checkpoint_of_another_torch_is_refused(checkpoint, capsys, tmp_path):
    other = rewritten(checkpoint, tmp_path, torch="1.13.1")
    err = refused(capsys, "--resume-from", str(other))
    assert f"written by torch 1.13.1, this is torch {torch.__version__}" in err
    assert "must not mix two stacks" in err


def test_a_checkpoint_whose_tensors_are_of_another_dtype_is_refused(checkpoint, tmp_path):
    data = torch.load(checkpoint, weights_only=True)
    model = {k: v.double() for k, v in data["model"].items()}
    with pytest.raises(
        CheckpointError, match=r"linear\.(weight|bias) is torch.float64, the config"
    ):
        load_training_checkpoint(rewritten(checkpoint, tmp_path, model=model))


def test_a_checkpoint_whose_optimizer_has_another_lr_is_refused(checkpoint, tmp_path):
    data = torch.load(checkpoint, weights_only=True)
    data["optimizer"]["param_groups"][0]["lr"] = 0.5
    path = rewritten(checkpoint, tmp_path, optimizer=data["optimizer"])
    with pytest.raises(CheckpointError, match=r"\(the optimizer's lr 0.5, the config's 0.01\)"):
        load_training_checkpoint(path)


def test_a_truncated_checkpoint_is_refused(checkpoint, capsys, tmp_path):
    cut = tmp_path / "cut.pt"
    cut.write_bytes(checkpoint.read_bytes()[:300])
    err = refused(capsys, "--resume-from", str(cut))
    assert err == f"linreg: error: {cut}: truncated or corrupt torch checkpoint"


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_text("not a checkpoint"), "not a torch checkpoint"),
        (lambda p: torch.save([1, 2], p), "not a linreg training checkpoint"),
        (
            lambda p: torch.save(train(TrainConfig(epochs=2)).final_state, p),
            "not a linreg training checkpoint",
        ),
        (
            lambda p: torch.save(
                {"linear.weight": torch.ones(1, 1), "linear.bias": torch.ones(1)}, p
            ),
            r"a model state_dict \(model.pth\), not a training checkpoint",
        ),
    ],
)
def test_files_that_are_not_training_checkpoints_are_refused(tmp_path, write, message):
    path = tmp_path / "x.pt"
    write(path)
    with pytest.raises(CheckpointError, match=message):
        load_training_checkpoint(path)


def test_a_checkpoint_missing_a_part_is_refused_naming_it(checkpoint, tmp_path):
    data = torch.load(checkpoint, weights_only=True)
    del data["optimizer"]
    path = tmp_path / "partial.pt"
    torch.save(data, path)
    with pytest.raises(
        CheckpointError, match=r"malformed training checkpoint \(missing 'optimizer'\)"
    ):
        load_training_checkpoint(path)


def test_a_history_that_does_not_fit_the_epoch_is_refused(checkpoint, tmp_path):
    data = torch.load(checkpoint, weights_only=True)
    data["history"]["train_loss"] = data["history"]["train_loss"][:10]
    path = rewritten(checkpoint, tmp_path, history=data["history"])
    with pytest.raises(CheckpointError, match="the train loss history holds 10 losses, not 250"):
        load_training_checkpoint(path)


def _damaged(rng: dict, piece: str) -> dict:
    rng = {**rng, "python": dict(rng["python"]), "numpy": dict(rng["numpy"])}
    if piece == "torch 7 bytes":
        rng["torch"] = torch.zeros(7, dtype=torch.uint8)
    elif piece == "torch as int64":
        rng["torch"] = rng["torch"].long()
    elif piece == "python short":
        rng["python"]["internal"] = rng["python"]["internal"][:5]
    elif piece == "python version":
        rng["python"]["version"] = 99
    elif piece == "numpy short":
        rng["numpy"]["keys"] = rng["numpy"]["keys"][:3]
    elif piece == "numpy position":
        rng["numpy"]["position"] = 1000
    elif piece == "numpy missing":
        del rng["numpy"]
    return rng


_DAMAGES = {
    "torch 7 bytes": "the torch generator's state does not restore (Expected a",
    "torch as int64": "the torch generator's state is not a uint8 vector",
    "python short": "the python generator's state does not restore (",
    "python version": "the python generator's state does not restore (",
    "numpy short": "the numpy generator's state is not MT19937's 624 words",
    "numpy position": "the numpy generator's position 1000 is not in [0, 624]",
    "numpy missing": "the numpy generator's state is missing",
}


@pytest.mark.parametrize("piece", list(_DAMAGES))
def test_a_checkpoint_whose_generator_state_cannot_be_restored_is_one_line(
    checkpoint, capsys, tmp_path, piece
):
    # torch.load(weights_only=True) reads these files: what is wrong is only found by setting
    # the state, which must happen before any of the process's generators are touched.
    data = torch.load(checkpoint, weights_only=True)
    damaged = rewritten(checkpoint, tmp_path, rng=_damaged(data["rng"], piece))
    err = refused(capsys, "--resume-from", str(damaged), "--out", str(tmp_path / "r"))
    assert err.startswith(f"linreg: error: {damaged}: malformed training checkpoint (")
    assert _DAMAGES[piece] in err, err
    assert not (tmp_path / "r").exists()


def test_generators_are_set_all_or_none():
    rng = _damaged(capture_rng(), "numpy short")
    rng["torch"] = torch.Generator().manual_seed(7).get_state()  # good, and not the process's
    before = capture_rng()
    with pytest.raises(ValueError, match="numpy generator"):
        set_rng(rng)
    assert torch.equal(capture_rng()["torch"], before["torch"])


def test_the_model_loader_refuses_a_training_checkpoint_by_name(checkpoint):
    with pytest.raises(CheckpointError, match=r"a training checkpoint .* not a model state_dict"):
        load_checkpoint(checkpoint)


def test_a_checkpoint_is_never_overwritten(checkpoint, capsys):
    err = refused(capsys, "--stop-at", "10", "--checkpoint", str(checkpoint))
    assert err == (
        f"linreg: error: --checkpoint {checkpoint}: already exists; results are never overwritten"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stop-at", "501"], r"--stop-at: must be an epoch in \[0, 500\], got 501"),
        (["--stop-at", "10", "--engine", "batched"], "--engine: stopping at an epoch and resuming"),
        (["--stop-at", "10", "--out", "x"], "--out: names a finished run's folder"),
        (["--checkpoint", "x.pt"], "--checkpoint: is where --stop-at writes"),
        (["--optimizer", "adam", "--engine", "compiled"], "--optimizer: adam runs on the eager"),
        (["--momentum", "0.9", "--optimizer", "adam"], "--momentum: is SGD's"),
        (["--momentum", "1"], r"--momentum: must be a number in \[0, 1\)"),
    ],
)
def test_bad_stop_and_optimizer_options_are_one_line_and_exit_2(
    args, message, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert re.search(message, refused(capsys, *args))
    assert not (tmp_path / "results").exists()


def test_resuming_before_the_stop_is_refused(checkpoint, capsys):
    err = refused(capsys, "--resume-from", str(checkpoint), "--stop-at", "100")
    assert r"--stop-at: must be an epoch in [250, 500], got 100" in err


def test_a_state_of_another_config_is_refused_by_the_engine():
    with pytest.raises(ConfigError, match=r"resume_from: a state of another config \(seed 1 here"):
        prepare_resumable(TrainConfig(seed=1), resume_from=train_until(TrainConfig(), 10))


@pytest.mark.cuda
def test_a_cuda_run_resumes_bit_for_bit_with_its_cuda_generators(tmp_path):
    config = TrainConfig(device="cuda", momentum=0.9)
    state = train_until(config, 250)
    assert len(state.rng["cuda"]) == torch.cuda.device_count()
    path = save_training_checkpoint(state, tmp_path / "cuda.pt")
    loaded = load_training_checkpoint(path)
    seen = []
    run = resume(loaded, on_eval=lambda *_: seen.append(torch.cuda.get_rng_state()))
    assert torch.equal(seen[0], state.rng["cuda"][torch.cuda.current_device()])
    same_run(run, train(config))
