"""Hostile inputs, each handled the one way: exit 2 (bad input) or 1 (a check failed), one line
on stderr, no traceback, nothing half-written; never a hang."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from linreg.cli import main
from linreg.cli.console import console
from linreg.config import TrainConfig
from linreg.jobs.training import train_to_folder
from linreg.results import kinds
from linreg.results.files import write_json_new
from linreg.suites.sweep import run_sweep, write_sweep

REPO = Path(__file__).resolve().parent.parent
SHORT = TrainConfig(epochs=20, eval_every=5)
# A child's limit: long enough for a machine at load 15 to start Python and torch (tens of
# seconds there), short enough that a hang still fails the test rather than the session.
CHILD_LIMIT_S = 600


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(console, "width", 300)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    return train_to_folder(SHORT, out_dir=tmp_path_factory.mktemp("r") / "run").folder


@pytest.fixture(scope="module")
def sweep_record(tmp_path_factory) -> dict:
    path = write_sweep(run_sweep(SHORT, seeds=range(5)), tmp_path_factory.mktemp("s") / "s.json")
    return json.loads(path.read_text())


def linreg(*args: str, timeout: float = CHILD_LIMIT_S, **env: str) -> subprocess.CompletedProcess:
    """The CLI in its own process: a hang fails the test by its timeout instead of hanging it."""
    return subprocess.run(
        [sys.executable, "-m", "linreg", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line_error(err: str, *fragments: str) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


# --- reading: schema, kinds, folders ---------------------------------------------------------


def test_report_refuses_a_sweep_of_an_unknown_schema(tmp_path, capsys, sweep_record):
    (tmp_path / "s.json").write_text(json.dumps({**sweep_record, "schema_version": 99}))
    assert main(["report", str(tmp_path / "s.json"), "--out", str(tmp_path / "r.html")]) == 2
    one_line_error(capsys.readouterr().err, "sweep schema_version 99; this linreg reads 1")
    assert not (tmp_path / "r.html").exists()


def test_a_killed_trains_staging_folder_does_not_break_report_or_compare(
    tmp_path, capsys, run_folder
):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "run1").symlink_to(run_folder, target_is_directory=True)
    staging = runs / ".run2.x.partial"  # what a train killed mid-write leaves
    staging.mkdir()
    (staging / "run.json").write_text('{"kind": "run", "half')
    assert main(["report", str(runs), "--out", str(tmp_path / "r.html")]) == 0
    assert main(["compare", str(runs), str(runs)]) == 0
    capsys.readouterr()


def test_a_fifo_in_a_results_folder_does_not_hang_compare(tmp_path, run_folder):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "run.json").write_bytes((run_folder / "run.json").read_bytes())
    os.mkfifo(folder / "stuck.json")
    done = linreg("compare", str(folder), str(folder))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("option", ["--check", "--against"])
@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_sweep_check_refuses_a_device_or_a_fifo(tmp_path, run_folder, option, target):
    if target == "fifo":
        target = str(tmp_path / "pipe.json")
        os.mkfifo(target)
    args = {"--check": str(run_folder), "--against": str(tmp_path / "missing.json")}
    args[option] = target
    done = linreg("sweep", "--check", args["--check"], "--against", args["--against"])
    assert done.returncode == 2
    one_line_error(done.stderr, target)


def test_two_trains_into_one_out_leave_one_run_and_one_line(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "linreg", "train", "--epochs", "20", "--out", str(out)]
    children = [
        subprocess.Popen([*command, "--seed", str(seed)], cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)},
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for seed in (0, 1)
    ]  # fmt: skip
    try:
        errors = [child.communicate(timeout=CHILD_LIMIT_S)[1] for child in children]
    finally:
        for child in children:
            child.kill()
    codes = [child.returncode for child in children]
    assert sorted(codes) == [0, 2], errors
    # Its last line (a slow machine's progress lines may come before): one error, no traceback.
    err = errors[codes.index(2)]
    assert "Traceback" not in err and err.endswith(
        f"linreg: error: --out {out}: already exists and is not empty; results are never "
        "overwritten\n"
    ), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in out.iterdir()) == [
        "history.csv", "model.pth", "plots.html", "run.json"]  # fmt: skip


def test_a_run_that_finds_its_out_taken_at_the_last_moment_says_so(tmp_path, monkeypatch):
    # Both checked --out before training; the other renamed its folder into place first.
    import linreg.results.run_folder as run_folder
    from linreg.errors import OutputError

    first = train_to_folder(SHORT, out_dir=tmp_path / "run")
    monkeypatch.setattr(run_folder, "check_new_folder", lambda out: None)
    with pytest.raises(OutputError, match="already exists and is not empty; results are never"):
        train_to_folder(SHORT, out_dir=tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert (first.folder / "run.json").is_file()


def test_a_5000_digit_integer_in_a_run_record_is_one_line(tmp_path, capsys, run_folder):
    text = (run_folder / "run.json").read_text().replace('"seed": 42', '"seed": ' + "9" * 5000)
    (tmp_path / "run.json").write_text(text)
    assert main(["compare", str(tmp_path / "run.json"), str(run_folder)]) == 2
    one_line_error(capsys.readouterr().err, "not readable JSON")


# --- repro: resume, workers ------------------------------------------------------------------


def test_resume_with_a_malformed_worker_file_is_one_line(tmp_path, capsys):
    from linreg.suites.repro import ReproMatrix, ReproOptions, start_result_dir
    from linreg.suites.repro_worker import run_file

    options = ReproOptions(
        ReproMatrix(devices=("cpu",), dtypes=("float64",), seeds=(0,), threads=(1,), base=SHORT),
        reference_dir=None,
    )
    result_dir = start_result_dir(options, tmp_path)
    [config] = options.matrix.configs()
    write_json_new(run_file(result_dir / "first", config), {"kind": kinds.REPRO_RUN,
                                                            "schema_version": 1})  # fmt: skip
    assert main(["repro", "--resume", str(result_dir)]) == 2
    one_line_error(capsys.readouterr().err, "malformed repro-run record (missing 'config')")


def test_sigterm_stops_repro_and_its_workers_and_leaves_no_temp_file(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "linreg", "repro", "--out", str(out), "--no-golden",
               "--dtypes", "float32,float64", "--seeds", "0:30", "--threads", "1"]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = float(CHILD_LIMIT_S)
        while deadline > 0 and not list(out.glob("*/first/*.json")):
            deadline -= 0.1
            subprocess.run(["sleep", "0.1"], check=True)
        assert deadline > 0, f"no run was written within {CHILD_LIMIT_S} s"
        proc.terminate()
        _, err = proc.communicate(timeout=CHILD_LIMIT_S)
    finally:
        proc.kill()
    assert proc.returncode == 143 and "linreg: terminated" in err
    [result_dir] = out.iterdir()
    files = sorted(p.name for p in result_dir.rglob("*"))
    subprocess.run(["sleep", "1"], check=True)
    assert sorted(p.name for p in result_dir.rglob("*")) == files  # no worker writes on
    assert not [name for name in files if name.endswith(".partial")]
    workers = subprocess.run(["pgrep", "-f", str(result_dir)], capture_output=True, text=True)
    assert workers.stdout == ""


# --- bisect: checked before anything is checked out or measured --------------------------------


def _git_repository(folder: Path, files: dict[str, str]) -> list[str]:
    """Three commits, each writing ``files``; their ids."""
    folder.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], check=True, text=True,
                              capture_output=True).stdout.strip()  # fmt: skip

    git("init", "-q")
    git("config", "user.email", "bisect@example.com")
    git("config", "user.name", "bisect test")
    shas = []
    for number in range(3):
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(f"{text} {number}\n")
        git("add", "-A")
        git("commit", "-q", "-m", f"change {number}")
        shas.append(git("rev-parse", "HEAD"))
    return shas


@pytest.fixture
def nothing_measured(monkeypatch) -> list[str]:
    """The commits bisect checked out to measure: none, where input is refused."""
    from linreg.suites.bisect import Worktree

    measured: list[str] = []
    checkout = Worktree.checkout

    def recorded(self, commit):
        measured.append(commit.sha)
        return checkout(self, commit)

    monkeypatch.setattr(Worktree, "checkout", recorded)
    return measured


@pytest.mark.parametrize("timeout", ["nan", "inf", "-1", "0", "1e300"])
def test_bisect_refuses_a_timeout_that_is_no_limit(tmp_path, capsys, nothing_measured, timeout):
    shas = _git_repository(tmp_path / "repo", {"linreg/engines/step.txt": "step"})
    args = ["bisect", "--repo", str(tmp_path / "repo"), "--good", shas[0], "--bad", shas[-1],
            "--case", "train", "--timeout", timeout]  # fmt: skip
    assert main(args) == 2
    one_line_error(capsys.readouterr().err, "--timeout: must be a number of seconds in (0, ")
    assert nothing_measured == []


def test_bisect_of_a_repository_that_is_not_linreg_says_so_before_checking_out(
    tmp_path, capsys, nothing_measured
):
    repo = tmp_path / "repo"
    shas = _git_repository(repo, {"README": "another project"})
    args = ["bisect", "--repo", str(repo), "--good", shas[0], "--bad", shas[-1], "--case", "train"]
    assert main(args) == 2
    one_line_error(capsys.readouterr().err, f"--repo: {repo}: commit {shas[0][:10]} holds no "
                                            "linreg/engines/")  # fmt: skip
    assert nothing_measured == []
    worktrees = subprocess.run(["git", "-C", str(repo), "worktree", "list"], text=True,
                               capture_output=True, check=True).stdout  # fmt: skip
    assert len(worktrees.splitlines()) == 1


# --- values that slip through ------------------------------------------------------------------


def bench_file(path: Path, rounds: list[float]) -> Path:
    case = {"name": "c", "fullname": "bench_x.py::c", "stats": {"data": rounds}}
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": [case]}))
    return path


def test_compare_of_single_round_files_is_undecided_not_a_traceback(tmp_path, capsys):
    a, b = bench_file(tmp_path / "a.json", [0.01]), bench_file(tmp_path / "b.json", [0.1])
    assert main(["compare", str(a), str(b), "--fail-on-regression", "10%"]) == 0
    out = capsys.readouterr().out
    assert "undecided (1 vs 1)" in out and "too few processes" in out


def test_compare_refuses_a_nan_round(tmp_path, capsys):
    a = bench_file(tmp_path / "a.json", [0.01, 0.011, 0.012])
    b = tmp_path / "b.json"
    b.write_text(a.read_text().replace("0.011", "NaN"))
    assert main(["compare", str(a), str(b), "--fail-on-regression", "10%"]) == 2
    one_line_error(capsys.readouterr().err, "a round of nan is not a time in seconds")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tolerance", "nan"], "--tolerance: must be a finite number >= 0, got nan"),
        (["--epochs", "1000000000000"], "--epochs: must be in [1, 1e+07]"),
    ],
)
def test_sweep_options_are_checked_before_training(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "--seeds", "0:3", *args]) == 2
    one_line_error(capsys.readouterr().err, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("slack", "--slack: must be a finite number >= 0, got nan"),
        ("nan band", "band.p95 holds nan, not a finite number"),
        ("short band", "band.median has 3 epochs, the config says 20"),
    ],
)
def test_sweep_check_refuses_bad_slack_and_bad_bands(
    tmp_path, capsys, run_folder, sweep_record, change, message
):
    record = json.loads(json.dumps(sweep_record))
    slack = "0.5"
    if change == "slack":
        slack = "nan"
    elif change == "nan band":
        record["band"]["p95"][3] = float("nan")
    else:
        record["band"]["median"] = record["band"]["median"][:3]
    sweep = tmp_path / "s.json"
    sweep.write_text(json.dumps(record))
    assert (
        main(["sweep", "--check", str(run_folder), "--against", str(sweep), "--slack", slack]) == 2
    )
    one_line_error(capsys.readouterr().err, message)


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (torch.tensor([[0.5]]).to_sparse(), "linear.weight is torch.sparse_coo tensor"),
        (torch.empty(1, 1, device="meta"), "linear.weight is a meta tensor (no data)"),
        (torch.tensor([[float("nan")]]), "linear.weight holds non-finite values ([[nan]])"),
    ],
)
def test_evaluate_refuses_checkpoints_it_cannot_judge(tmp_path, capsys, tensor, message):
    path = tmp_path / "model.pth"
    torch.save({"linear.weight": tensor, "linear.bias": torch.tensor([0.2])}, path)
    assert main(["evaluate", str(path)]) == 2
    one_line_error(capsys.readouterr().err, message)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[tool]\nlinreg = 3\n", "[tool.linreg] must be a table, got 3"),
        ("tool = 3\n", "[tool] must be a table, got 3"),
    ],
)
def test_a_malformed_pyproject_is_one_line(tmp_path, capsys, run_folder, toml, message):
    (tmp_path / "pyproject.toml").write_text(toml)
    args = [
        "compare",
        str(run_folder),
        str(run_folder),
        "--pyproject",
        str(tmp_path / "pyproject.toml"),
    ]
    assert main(args) == 2
    one_line_error(capsys.readouterr().err, "--pyproject:", message)


def test_an_ascii_terminal_gets_the_run_and_exit_0(tmp_path):
    done = linreg("train", "--epochs", "20", "--out", str(tmp_path / "r"), PYTHONIOENCODING="ascii")
    assert done.returncode == 0, done.stderr
    # The epoch time is printed whatever its unit (µs comes out as "?s"; a slow machine's 20
    # epochs, the first one cold, can average a millisecond).
    assert re.search(r"\(\d[\d.]* [?mn]?s/epoch\)", done.stdout), done.stdout
    assert done.stdout.isascii() and (tmp_path / "r" / "run.json").exists()


def test_a_full_disk_on_stdout_is_one_line():
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "linreg", "env", "--json"], cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=full, stderr=subprocess.PIPE,
            text=True, timeout=CHILD_LIMIT_S, check=False,
        )  # fmt: skip
    assert done.returncode == 2
    one_line_error(done.stderr, "cannot write the output (No space left on device)")


# --- one syntax for every list option ----------------------------------------------------------


def test_seeds_take_the_same_syntax_in_every_command(tmp_path, monkeypatch, capsys):
    from linreg.suites.bench_selection import parse_selection

    assert parse_selection(seeds="0:3,7").seeds == (0, 1, 2, 7)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "--seeds", "0:3,7", "--epochs", "10", "--out", "s.json"]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["seeds"] == [0, 1, 2, 7]
    args = ["repro", "--seeds", "0:2,7", "--dtypes", "float64", "--threads", "1", "--epochs", "10",
            "--no-golden", "--out", "repro"]  # fmt: skip
    assert main(args) == 0
    [checks] = (tmp_path / "repro").glob("*/checks.json")
    subjects = {c["subject"] for c in json.loads(checks.read_text())["checks"]}
    assert {s.split(" seed ")[1].split()[0] for s in subjects} == {"0", "1", "7"}
