"""A repro run's replays run in its two copies' workers, one side each, once the checks name
the pairs: the explanations are those of a worker started for each side, no replay worker is
started, and a copy's worker never outlives the run, whether it had a replay, none, failed in
one, or lost its parent."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from linreg.config import TrainConfig
from linreg.results.kinds import REPRO_COPIES
from linreg.results.load import load_run
from linreg.suites import replay_sides
from linreg.suites.replay import ReplayError
from linreg.suites.replay_sides import JOBS_FILE, REPLAYS_OPTION, served_side
from linreg.suites.repro import check_pairs, repro
from linreg.suites.repro_options import ReproMatrix, ReproOptions
from linreg.suites.repro_worker import run_file
from linreg.suites.workers import Workers, package_env

REPO = Path(__file__).resolve().parent.parent
# Long enough that float32 and float64 part beyond the tolerance (at epoch 185): one replay.
PARTING = TrainConfig(epochs=200, eval_every=50)


def test_the_copies_replay_the_pairs_as_workers_of_their_own_would(tmp_path, monkeypatch) -> None:
    def started(*args, **kwargs):
        raise AssertionError(f"a replay worker was started: {args}")

    monkeypatch.setattr(replay_sides, "run_module", started)
    matrix = ReproMatrix(devices=("cpu",), dtypes=("float32", "float64"), seeds=(42,),
                         threads=(1,), base=PARTING)  # fmt: skip
    options = ReproOptions(matrix, reference_dir=None)
    report = repro(options, results_root=tmp_path)
    assert report.ok, [c.reason for c in report.failures]
    served = {(c.kind, c.subject, c.against): c.explanation for c in report.checks}
    assert any(served.values()), "float32 against float64 is not bit-identical: a replay"

    monkeypatch.undo()  # the same pairs, each side replayed by a worker started for it
    runs = {
        c.config_id: tuple(load_run(run_file(report.result_dir / copy, c)) for copy in REPRO_COPIES)
        for c in matrix.configs()
    }
    fresh = check_pairs(matrix, runs, options.tolerances, options.requirements, None,
                        options.outcome_steps)  # fmt: skip
    assert {(c.kind, c.subject, c.against): c.explanation for c in fresh} == {
        key: served[key] for key in ((c.kind, c.subject, c.against) for c in fresh)
    }


# A copy's worker as the parent sees it, without torch: waits for its jobs, then fails on any.
FAKE_COPY = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    jobs = Path(sys.argv[1]) / "jobs.json"
    while not jobs.exists():
        time.sleep(0.02)
    if json.loads(jobs.read_text()):
        print("the replay broke", file=sys.stderr)
        sys.exit(1)
    """
)
# ... and one that never ends once it has its jobs.
STUCK_COPY = "import time\nwhile True: time.sleep(1)"


def test_a_copy_that_fails_in_its_replay_is_named_with_its_last_line(tmp_path) -> None:
    with Workers({"first": [sys.executable, "-c", FAKE_COPY, str(tmp_path)]}) as workers:
        with pytest.raises(ReplayError, match="the first worker failed in its replays: the "
                                              "replay broke"):  # fmt: skip
            served_side(workers, "first", tmp_path, ReplayError)([{"config": {}}], 30)
        with pytest.raises(ReplayError, match="ended before its replays"):
            served_side(workers, "first", tmp_path, ReplayError)([], 30)


def test_a_copy_with_nothing_to_replay_ends_well(tmp_path) -> None:
    with Workers({"first": [sys.executable, "-c", FAKE_COPY, str(tmp_path)]}) as workers:
        assert served_side(workers, "first", tmp_path, ReplayError)([], 30) == tmp_path
        assert not workers.running("first") and workers.failures() == {}
    assert (tmp_path / JOBS_FILE).read_text().strip() == "[]"


def test_a_copy_past_its_time_is_stopped_and_said_so(tmp_path) -> None:
    with Workers({"first": [sys.executable, "-c", STUCK_COPY]}) as workers:
        with pytest.raises(ReplayError, match="ran past 1 s and was stopped"):
            served_side(workers, "first", tmp_path, ReplayError)([], 1)
        assert not workers.running("first")


def test_the_block_stops_a_copy_still_waiting(tmp_path) -> None:
    with Workers({"first": [sys.executable, "-c", STUCK_COPY]}) as workers:
        process = workers.processes["first"]
    assert process.poll() is not None
    assert workers.failures() == {}  # stopped here: not a failure of its own


def test_a_copy_whose_run_ended_does_not_wait_for_replays_forever(tmp_path) -> None:
    """The run killed (SIGKILL: no cleanup) while its copy waits: the copy ends by itself."""
    config = TrainConfig(epochs=2, eval_every=1)
    (tmp_path / "configs.json").write_text(json.dumps({"configs": [config.to_dict()]}))
    (tmp_path / "replays").mkdir()
    (tmp_path / "out").mkdir()
    trained = run_file(tmp_path / "out", config)
    pid_file = tmp_path / "pid"
    # The run: starts the copy with its own pid as the parent, waits until the copy has written
    # its one run (it then waits for its replays), and ends without a word to it.
    run = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        copy = subprocess.Popen([
            sys.executable, "-m", "linreg.suites.repro_worker", {REPLAYS_OPTION!r},
            {str(tmp_path / "replays")!r}, str(os.getpid()),
            {str(tmp_path / "configs.json")!r}, {str(tmp_path / "out")!r},
        ])
        open({str(pid_file)!r}, "w").write(str(copy.pid))
        while not os.path.exists({str(trained)!r}) and copy.poll() is None:
            time.sleep(0.02)
        time.sleep(0.5)
        open({str(pid_file)!r} + ".state", "w").write("waiting" if copy.poll() is None else "ended")
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", run], env=package_env(), cwd=REPO, check=True,
                   timeout=120)  # fmt: skip
    copy = int(pid_file.read_text())
    assert Path(f"{pid_file}.state").read_text() == "waiting"  # it was waiting when the run ended
    deadline = time.monotonic() + 30
    while _alive(copy):
        assert time.monotonic() < deadline, "the copy still waits for a run that ended"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    """Running, not a zombie no one has reaped yet."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


# A worker that says much (a warning per config, say) while it waits, and then fails.
TALKATIVE = textwrap.dedent(
    """
    import sys
    for i in range(4000):
        print(f"warning {i}: " + "x" * 60, file=sys.stderr)
    print("the last word", file=sys.stderr)
    sys.exit(1)
    """
)


def test_a_worker_that_says_much_ends_and_its_last_line_is_kept() -> None:
    """Some 260 KB on stderr, more than a pipe holds unread: the worker still ends, and its
    last line is its failure's, inside the block and after it."""
    with Workers({"talker": [sys.executable, "-c", TALKATIVE]}) as workers:
        assert workers.finish("talker", 30) == "the last word"
    assert workers.failures() == {"talker": "the last word"}


@pytest.mark.parametrize(
    "argv", [[REPLAYS_OPTION, "replays"], [REPLAYS_OPTION, "replays", "configs.json"]]
)
def test_a_copy_given_replays_without_both_values_prints_its_usage(argv, tmp_path, capsys):
    """Not read as CONFIGS_JSON OUT_DIR [RESUME_DIR]: its usage, exit 2, nothing made."""
    from linreg.suites.repro_worker import main

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert main(argv) == 2
    assert "usage: python -m linreg.suites.repro_worker [--replays DIR PARENT_PID]" in (
        capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []
