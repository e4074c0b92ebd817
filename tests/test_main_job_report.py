"""`linreg run` with a corrupted golden reference: the job fails and its report says which
check failed, in the first viewport."""

import dataclasses

from linreg.cli import main
from linreg.report.build import collect_inputs
from linreg.report.verdict import FAIL, verdicts
from tests.browser import render, require_browser
from tests.test_report_browser import CORRUPTED, corrupted_references


def test_a_corrupted_golden_reference_fails_the_job_and_its_report_names_the_check(
    tmp_path, capsys, monkeypatch
):
    import linreg.suites.repro

    # What is judged here is the repro step: the bench need not count instructions (Valgrind's
    # start-up with torch, about 20 s).
    monkeypatch.setenv("LINREG_BENCH_INSTRUCTIONS", "0")
    references = corrupted_references(tmp_path / "reference")
    real_repro = linreg.suites.repro.repro

    # The job builds its ReproOptions with the default reference folder, bound when the class
    # was defined; the test hands the repro step its own copy instead.
    def repro_against_the_copy(options, *args, **kwargs):
        return real_repro(dataclasses.replace(options, reference_dir=references), *args, **kwargs)

    monkeypatch.setattr(linreg.suites.repro, "repro", repro_against_the_copy)
    out = tmp_path / "job"
    assert main(["run", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "FAILED" in printed and "golden" in printed

    # The panel is computed from the folder's files alone, and agrees with the exit status.
    answers = verdicts(collect_inputs([out]))
    assert not answers.ok and answers.reproduces.status == FAIL

    require_browser()
    page = render(out / "report.html", tmp_path / "job.png")
    assert page.page_errors == [] and page.console_errors == []
    named = f"golden: cpu float32 seed 42 threads 1 eager vs {CORRUPTED}"
    assert "No: 1 of" in page.viewport_text and "checks fails" in page.viewport_text
    assert named in page.viewport_text
    assert any(named in red for red in page.viewport_red), page.viewport_red
