import csv
import json

import pytest
import torch

from linreg.cli import main
from linreg.state import state_dict_hash


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_folders(root):
    runs = root / "results" / "runs"
    return sorted(p for p in runs.iterdir()) if runs.exists() else []


def test_train_writes_a_complete_run_folder(in_tmp, capsys):
    assert main(["train", "--seed", "42"]) == 0
    out = capsys.readouterr().out
    assert "0.7986697" in out and "0.8" in out  # learned weight beside the true one
    assert "450" in out  # the every-50-epochs table
    (folder,) = run_folders(in_tmp)
    assert sorted(p.name for p in folder.iterdir()) == [
        "history.csv",
        "model.pth",
        "plots.html",
        "run.json",
    ]
    record = json.loads((folder / "run.json").read_text())
    assert record["config"]["seed"] == 42 and record["schema_version"] == 1
    assert record["environment"]["torch"] == torch.__version__
    state = torch.load(folder / "model.pth", weights_only=True)
    assert state_dict_hash(state) == record["state_hash"]

    with (folder / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 500 and list(rows[0]) == ["epoch", "train_loss", "test_loss"]
    assert [float(r["train_loss"]) for r in rows] == record["history"]["train_loss"]
    assert [int(r["epoch"]) for r in rows if r["test_loss"]] == list(range(0, 500, 50))

    html = (folder / "plots.html").read_text()
    assert html.count('class="plotly-graph-div"') == 3
    assert "<script src=" not in html  # plotly.js is embedded, so it opens offline


def test_two_runs_give_byte_identical_history(in_tmp):
    assert main(["train", "--out", "a"]) == 0
    assert main(["train", "--out", "b"]) == 0
    assert (in_tmp / "a/history.csv").read_bytes() == (in_tmp / "b/history.csv").read_bytes()
    a = json.loads((in_tmp / "a/run.json").read_text())
    b = json.loads((in_tmp / "b/run.json").read_text())
    assert a["state_hash"] == b["state_hash"]


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_other_dtypes_are_recorded(in_tmp, dtype):
    assert main(["train", "--dtype", dtype, "--out", "r"]) == 0
    record = json.loads((in_tmp / "r/run.json").read_text())
    assert record["config"]["dtype"] == dtype
    assert torch.load(in_tmp / "r/model.pth", weights_only=True)["linear.weight"].dtype == getattr(
        torch, dtype
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dtype", "float8"], "--dtype: must be one of float32, float64, bfloat16, float16"),
        (["--device", "tpu"], "--device: must be one of cpu, cuda, cuda:N, mps, auto"),
        (["--engine", "jit"], "--engine: must be one of"),
        (["--lr", "0"], "--lr: must be > 0"),
        (["--lr", "-0.5"], "--lr: must be > 0"),
        (["--epochs", "0"], "--epochs: must be in [1, 1e+07], got 0"),
        (["--epochs", "1000000000000"], "--epochs: must be in [1, 1e+07], got 1000000000000"),
        (["--eval-every", "0"], "--eval-every: must be >= 1"),
        (["--train-fraction", "1.5"], "--train-fraction: must be in (0, 1)"),
        (["--train-fraction", "0"], "--train-fraction: must be in (0, 1)"),
        (["--epochs", "many"], "'--epochs'"),
        (["--no-such-option"], "No such option"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(in_tmp, capsys, args, message):
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (in_tmp / "results").exists()


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA"
)
def test_cuda_where_there_is_none_is_refused(in_tmp, capsys):
    assert main(["train", "--device", "cuda"]) == 2
    assert "--device: cuda requested but CUDA is not available" in capsys.readouterr().err
    assert not (in_tmp / "results").exists()


def test_out_that_cannot_be_written_is_refused(in_tmp, capsys):
    (in_tmp / "file").write_text("x")
    assert main(["train", "--out", "file/run"]) == 2
    assert "--out file/run" in capsys.readouterr().err


def test_out_that_exists_with_content_is_never_overwritten(in_tmp, capsys):
    (in_tmp / "taken").mkdir()
    (in_tmp / "taken" / "keep.txt").write_text("mine")
    assert main(["train", "--out", "taken"]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert sorted(p.name for p in (in_tmp / "taken").iterdir()) == ["keep.txt"]


def test_diverging_run_exits_1_names_the_epoch_and_keeps_nothing(in_tmp, capsys):
    assert main(["train", "--loss", "mse", "--lr", "1e6"]) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "at epoch" in err and "nothing was kept" in err
    assert run_folders(in_tmp) == []
    assert not any(p.name.endswith(".partial") for p in in_tmp.rglob("*"))


def test_evaluate_reports_the_test_loss_of_a_checkpoint(in_tmp, capsys):
    assert main(["train", "--out", "r"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "r/model.pth"]) == 0
    out = capsys.readouterr().out
    state = torch.load(in_tmp / "r/model.pth", weights_only=True)
    X = torch.arange(0, 1, 0.02).unsqueeze(1)
    y = 0.8 * X + 0.2
    expected = torch.nn.functional.l1_loss(
        X[40:] @ state["linear.weight"].T + state["linear.bias"], y[40:]
    ).item()
    assert f"test l1 loss {expected:.8g}" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"hello", "not a torch checkpoint"), (b"", "empty file")],
)
def test_evaluate_refuses_what_is_not_a_checkpoint(in_tmp, capsys, content, message):
    if content is not None:
        (in_tmp / "x.pth").write_bytes(content)
    assert main(["evaluate", "x.pth"]) == 2
    err = capsys.readouterr().err
    assert f"x.pth: {message}" in err and err.count("\n") == 1


def test_env_json_is_the_fingerprint(capsys):
    assert main(["env", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["torch"] == torch.__version__ and "cpu" in data and "env" in data


def test_help_explains_every_train_option(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for option in (
        "--seed",
        "--lr",
        "--epochs",
        "--eval-every",
        "--train-fraction",
        "--device",
        "--dtype",
        "--engine",
        "--loss",
        "--optimizer",
        "--threads",
        "--out",
        "--samples",
        "--deterministic",
    ):
        assert option in out


def test_ctrl_c_is_one_line_exit_130_and_keeps_nothing(in_tmp, capsys, monkeypatch):
    import linreg.jobs.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(linreg.jobs.training, "train", interrupted)
    assert main(["train"]) == 130
    assert capsys.readouterr().err == "linreg: interrupted\n"
    assert not (in_tmp / "results").exists()


def test_evaluate_uses_the_data_of_the_run_beside_the_checkpoint(in_tmp, capsys):
    assert main(["train", "--weight", "2", "--bias", "-1", "--samples", "200", "--out", "r"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "r/model.pth"]) == 0
    out = capsys.readouterr().out
    record = json.loads((in_tmp / "r/run.json").read_text())
    assert "(true 2)" in out and "(true -1)" in out
    # 40 test points of the run's own 200, not the tutorial's 10.
    assert out.count("\n") > 40
    assert record["config"]["samples"] == 200


# --- an interrupt wherever it lands --------------------------------------------------------------


def _interrupted_at(event: int, call) -> bool:
    """``call()`` with Ctrl-C sent to this process at its ``event``-th traced event (a call, a
    line or a return, in any frame): as a signal lands between two bytecodes. Whether it was
    interrupted: where the signal lands in a finalizer (a generator closed, an object freed by
    the collector), Python reports the KeyboardInterrupt as unraisable and goes on."""
    import itertools
    import os
    import signal
    import sys

    counter = itertools.count()
    swallowed: list[BaseException | None] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda seen: swallowed.append(seen.exc_value)

    def tracer(frame, what, arg):
        if next(counter) == event:
            os.kill(os.getpid(), signal.SIGINT)
        return tracer

    # Ctrl-C as an interactive Python has it, whatever this pytest inherited: one started in
    # the background (`nohup ... &`) has SIGINT ignored, and the signal would never land.
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sys.settrace(tracer)
        try:
            call()
        finally:
            sys.settrace(None)
        (lambda: None)()  # a signal still pending is handled here, at the latest
    except KeyboardInterrupt:
        return True
    finally:
        sys.unraisablehook = hook
        signal.signal(signal.SIGINT, handler)
    return any(isinstance(e, KeyboardInterrupt) for e in swallowed)


def _events(call) -> int:
    import itertools
    import sys

    counter = itertools.count()

    def tracer(frame, what, arg):
        next(counter)
        return tracer

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return next(counter)


def _points(events: int, ends: int = 400, stride: int = 37) -> list[int]:
    """Every event near the start and the end (where the staging entry is made, renamed or
    removed), and a stride through the middle: bounded, whatever the writer's length."""
    return sorted({*range(min(ends, events)), *range(max(events - ends, 0), events),
                   *range(0, events, stride)})  # fmt: skip


@pytest.mark.parametrize("writer", ["run folder", "result file"])
def test_an_interrupt_anywhere_in_a_write_leaves_nothing_partial(tmp_path, writer):
    import threading

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only; this test runs in another")
    from linreg.config import TrainConfig
    from linreg.engines import train
    from linreg.results.files import write_json_new
    from linreg.results.run_folder import write_run_folder
    from linreg.state import state_from_json

    run = train(TrainConfig(epochs=20, eval_every=5))
    state = state_from_json(run.final_state)
    complete = ["history.csv", "model.pth", "plots.html", "run.json"]

    def write(folder):
        if writer == "run folder":
            return lambda: write_run_folder(run, state, folder / "run", {"plots.html": "x"})
        return lambda: write_json_new(folder / "run.json", {"kind": "x"})

    for dry in ("cold", "warm"):  # the first write imports and caches: count a later one's
        (tmp_path / dry).mkdir()
        events = _events(write(tmp_path / dry))
    # Every event of the one atomic writer (about 1,400, a second); the run folder's 10,000
    # are sampled. A sample passed over the two events where the writer once left its temp.
    points = range(events) if writer == "result file" else _points(events)
    interrupted = 0
    for event in points:
        folder = tmp_path / str(event)
        folder.mkdir()
        interrupted += _interrupted_at(event, write(folder))
        left = sorted(p.name for p in folder.iterdir())
        # Nothing, or the finished result: never a staging entry.
        assert left in ([], ["run"] if writer == "run folder" else ["run.json"]), (event, left)
        if left and writer == "run folder":
            assert sorted(p.name for p in (folder / "run").iterdir()) == complete
    assert interrupted == len(points)  # and the signal did land, every time
