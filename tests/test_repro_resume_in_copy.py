"""The resume check's runs are finished by the second copy's worker, first of all, before it
trains its copy: a repro run starts two worker processes, not three, and each run is still
resumed in a process that has trained nothing yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from linreg.config import TrainConfig
from linreg.results.files import read_json
from linreg.results.kinds import REPRO_COPIES
from linreg.suites import repro_copies
from linreg.suites.repro import repro
from linreg.suites.repro_copies import RESUME, CopyWorkers
from linreg.suites.repro_options import ReproMatrix, ReproOptions
from linreg.suites.repro_resume import FINISH_OPTION, RESUME_DIR, resumed_file
from linreg.suites.repro_worker import run_file

SHORT = TrainConfig(epochs=40, eval_every=10)


def test_a_repro_run_starts_two_workers_and_the_second_resumes_before_it_trains(
    tmp_path, monkeypatch
) -> None:
    started: list[dict[str, list[str]]] = []

    class Recorded(repro_copies.Workers):
        def __init__(self, commands: dict[str, list[str]]) -> None:
            started.append(commands)
            super().__init__(commands)

    monkeypatch.setattr(repro_copies, "Workers", Recorded)
    matrix = ReproMatrix(devices=("cpu",), dtypes=("float32", "float64"), seeds=(1, 42),
                         threads=(1,), base=SHORT)  # fmt: skip
    report = repro(ReproOptions(matrix, reference_dir=None), results_root=tmp_path)
    assert report.ok, [c.reason for c in report.failures]
    [commands] = started
    assert list(commands) == list(REPRO_COPIES)
    first, second = (commands[copy] for copy in REPRO_COPIES)
    assert FINISH_OPTION in second and FINISH_OPTION not in first
    resumes = matrix.resume_configs()
    assert len(resumes) == 2
    resume_checks = [c for c in report.checks if c.kind == "resume"]
    assert len(resume_checks) == 2 and all(c.holds for c in resume_checks)
    # Every run resumed before the second copy wrote its first run: no run of its own had been
    # trained in that process when it resumed.
    resumed = [read_json(resumed_file(report.result_dir / RESUME_DIR, c))["created"]
               for c in resumes]  # fmt: skip
    copies = [read_json(run_file(report.result_dir / REPRO_COPIES[1], c))["created"]
              for c in matrix.configs()]  # fmt: skip
    assert max(resumed) < min(copies), (resumed, copies)


def plan(resumed: bool | None) -> CopyWorkers:
    folders = {copy: Path(copy) for copy in REPRO_COPIES}
    resume = None if resumed is None else (Path("resume"), lambda: resumed)
    return CopyWorkers("linreg.suites.repro_worker", Path("configs.json"), folders, resume)


def test_a_failed_second_copy_is_named_the_resume_worker_until_every_run_is_resumed() -> None:
    first, second = REPRO_COPIES
    assert plan(resumed=False).role(second) == RESUME
    assert plan(resumed=False).role(first) == first
    assert plan(resumed=True).role(second) == second
    assert plan(resumed=None).role(second) == second


def test_only_the_second_copy_is_given_the_resumes_to_finish_and_only_the_first_the_points(
    tmp_path,
) -> None:
    first, second = REPRO_COPIES
    commands = plan(resumed=False).commands({c: tmp_path / c for c in REPRO_COPIES})
    assert commands[first][-3:] == ["configs.json", first, "resume"]
    assert commands[second][-4:] == [FINISH_OPTION, "resume", "configs.json", second]
    (tmp_path / "none").mkdir()
    without = plan(resumed=None).commands({c: tmp_path / "none" / c for c in REPRO_COPIES})
    assert all(FINISH_OPTION not in c and c[-1] == copy for copy, c in without.items())


@pytest.mark.parametrize(
    "module", ["linreg.suites.repro_worker", "linreg.suites.target_repro_worker"]
)
def test_a_copy_given_finish_resumes_without_its_folder_prints_its_usage(
    module, tmp_path, capsys
) -> None:
    import importlib

    main = importlib.import_module(module).main
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert main([FINISH_OPTION]) == 2
    err = capsys.readouterr().err
    assert f"usage: python -m {module}" in err and f"[{FINISH_OPTION} RESUME_DIR]" in err
    assert list(tmp_path.iterdir()) == []


def test_a_worker_waiting_for_a_point_has_imported_what_its_first_optimizer_needs(tmp_path):
    """The second copy's worker, waiting for the first copy's point, imports torch._dynamo (which
    its first optimizer would import once the point is there); a point already written is not
    waited for and imports nothing."""
    import subprocess
    import sys
    import textwrap

    from linreg.suites.workers import package_env

    code = textwrap.dedent(f"""
        import sys, threading, time
        from pathlib import Path
        from linreg.config import TrainConfig
        from linreg.suites.repro_resume import point_file, wait_for_point
        folder, config = Path({str(tmp_path)!r}), TrainConfig(epochs=40)
        ready = "torch._dynamo" in sys.modules
        point_file(folder, config).write_text("{{}}")
        wait_for_point(folder, config)
        written = "torch._dynamo" in sys.modules
        point_file(folder, config).unlink()
        threading.Timer(0.5, point_file(folder, config).write_text, ["{{}}"]).start()
        wait_for_point(folder, config)
        print(ready, written, "torch._dynamo" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], env=package_env(), capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True"]
