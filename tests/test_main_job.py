import shutil
from collections import Counter
from pathlib import Path

import pytest

import linreg.results.load
from linreg.cli import main
from linreg.report.speed_words import summary
from linreg.results.instruction_baselines import newest_instruction_baseline
from linreg.results.load import load_speed_verdict
from linreg.stack import current_stack_key
from tests.browser import render, require_browser


def test_run_writes_everything_under_one_folder_and_ends_with_the_report(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "job"
    reads: Counter[Path] = Counter()
    read_json = linreg.results.load.read_json

    def counted(path):
        reads[Path(path).resolve()] += 1
        return read_json(path)

    monkeypatch.setattr(linreg.results.load, "read_json", counted)
    assert main(["run", "--out", str(out)]) == 0
    # Load once: the job reads each bench file it made once and hands the records on; the
    # report reads nothing of the folder again.
    bench_files = list((out / "bench").rglob("*.json"))
    assert bench_files and all(reads[p.resolve()] == 1 for p in bench_files), reads
    mine = {p: n for p, n in reads.items() if p.is_relative_to(out.resolve())}
    assert max(mine.values()) == 1, mine
    printed = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in printed
    assert (out / "runs" / "cpu" / "run.json").exists()
    for step in ("train", "bench", "repro", "report"):
        assert f"│ {step}" in printed and "FAILED" not in printed
    assert list((out / "bench").rglob("*.json"))
    assert list((out / "repro").rglob("checks.json"))
    # Where Valgrind is present and this stack has a committed baseline, the gate decided.
    verdict = load_speed_verdict(out / "speed-verdict.json")
    if shutil.which("valgrind") and newest_instruction_baseline(current_stack_key()):
        assert verdict.verdict == "no regression", summary(verdict)
        assert any(c.metric == "instructions" for c in verdict.cases)
        assert "run: OK: every step held" in printed
    else:
        assert verdict.verdict in ("no baseline", "undecided") and "│ speed" in printed
        assert "run: OK: no step failed; speed not judged" in printed

    require_browser()
    page = render(out / "report.html", tmp_path / "job.png")
    assert page.page_errors == [] and page.console_errors == []
    expected = {"tutorial-loss", "loss-overlay", "timings", "size-sweep", "repro-matrix"}
    assert expected <= set(page.figures), page.figures
    assert all(points > 0 for points in page.figures.values()), page.figures
    assert (out / "report.html").stat().st_size > 1_000_000  # plotly.js is embedded


def test_a_job_with_a_step_not_judged_does_not_say_every_step_held(tmp_path, capsys, monkeypatch):
    import linreg.jobs.main_job as main_job
    from linreg.jobs.steps import JobResult
    from linreg.results.job_steps import NOT_JUDGED, OK, JobStep

    steps = (JobStep("train", OK, "cpu"), JobStep("speed", NOT_JUDGED, "not judged: no baseline"))
    monkeypatch.setattr(main_job, "run_main_job", lambda out, on_step: JobResult(out, steps))
    assert main(["run", "--out", str(tmp_path / "job")]) == 0
    printed = capsys.readouterr().out
    assert "every step held" not in printed
    assert "run: OK: no step failed; speed not judged (see the table above)" in printed


def test_run_refuses_a_non_empty_out(tmp_path, capsys):
    (tmp_path / "x").write_text("keep")
    assert main(["run", "--out", str(tmp_path)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


@pytest.mark.parametrize("args", [["report"], ["report", "no/such/folder"]])
def test_report_bad_input_is_exit_2(tmp_path, capsys, args):
    assert main(args) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_failing_step_is_reported_and_the_report_still_built(tmp_path, capsys, monkeypatch):
    import linreg.suites.repro
    from linreg.errors import ConfigError

    def no_references(*args, **kwargs):
        raise ConfigError("reference_dir", "results/reference: no such folder")

    monkeypatch.setattr(linreg.suites.repro, "repro", no_references)
    monkeypatch.setenv("LINREG_BENCH_INSTRUCTIONS", "0")  # no Valgrind: the repro step is judged
    out = tmp_path / "job"
    assert main(["run", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "FAILED" in printed and "no such folder" in printed
    assert (out / "report.html").exists()
    # The report's panel agrees with the exit status: the repro step failed, and it says so.
    from linreg.report.inputs import collect_inputs
    from linreg.report.verdict import FAIL, verdicts

    answer = verdicts(collect_inputs([out])).reproduces
    assert answer.status == FAIL and answer.headline == "No: the repro step failed"
    assert "no such folder" in answer.lines[0].detail
