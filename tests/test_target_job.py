"""`linreg run --target`: the job on the mlp example writes a report whose first screen answers
the three questions for that model; a target's baselines are kept per version, so a changed
target is never gated on the old code's counts."""

from __future__ import annotations

import pytest

from linreg.cli import main
from linreg.results.load import load_bench
from linreg.results.target_baselines import (
    newest_target_baseline,
    no_baseline_words,
    store_target_baselines,
)
from linreg.stack import stack_key
from linreg.target_config import TargetRef
from linreg.target_loading import load_target
from tests.browser import render, require_browser
from tests.instruction_files import HOST_A, STACK, bench_json


def test_a_baseline_of_one_version_of_a_target_is_never_another_versions(tmp_path):
    old = TargetRef("model.py:Net", "net", "a" * 64)
    new = TargetRef("model.py:Net", "net", "b" * 64)
    case = f"bench_target.py::bench_target_step[net-{old.short_hash}-ci-cpu-float32-seed42-eager]"
    path = bench_json(tmp_path / "session" / "0001_x.json", {case: 2e8}, {**STACK, **HOST_A})
    key = stack_key(load_bench(path).environment)
    assert store_target_baselines([path], old, tmp_path / "targets")
    assert newest_target_baseline(old, key, tmp_path / "targets") is not None
    assert newest_target_baseline(new, key, tmp_path / "targets") is None
    assert (
        no_baseline_words(new, key)
        == f"no baseline for target net at code hash bbbbbbbbbbbb on stack {key}"
    )


def test_run_target_refuses_a_bad_target_or_size_in_one_line(tmp_path, capsys):
    assert main(["run", "--target", "nosuch.py:Net", "--out", str(tmp_path / "a")]) == 2
    assert main(["run", "--target", "mlp", "--size", "huge", "--out", str(tmp_path / "b")]) == 2
    assert main(["run", "--size", "ci", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "nosuch.py" in err[0] and "huge" in err[1] and "--target" in err[2]
    assert not any((tmp_path / name).exists() for name in "abc")


@pytest.mark.slow
def test_run_target_on_the_mlp_answers_the_three_questions_on_the_first_screen(
    tmp_path, capsys, monkeypatch
):
    # No baseline of this version is committed, so nothing is counted under Valgrind.
    monkeypatch.setenv("LINREG_BENCH_INSTRUCTIONS", "0")
    _, ref = load_target("mlp")
    out = tmp_path / "job"
    assert main(["run", "--target", "mlp", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"no baseline for target mlp at code hash {ref.short_hash}" in " ".join(printed.split())
    assert (out / "runs" / "cpu" / "run.json").is_file() and (out / "report.html").is_file()

    require_browser()
    page = render(out / "report.html", tmp_path / "job.png")
    assert page.page_errors == [] and page.console_errors == []
    text = " ".join(page.viewport_text.split())
    for question in ("Reproduces?", "How fast?", "Regressed?"):
        assert question in text
    assert "Yes: all" in text and "checks of mlp hold" in text
    steps = load_target("mlp")[0].sizes["ci"]["steps"]
    assert f"mlp's {steps} steps take" in text and "a step" in text
    assert f"No baseline for target mlp at code hash {ref.short_hash}" in text
    assert page.figures.get("target_loss", 0) > 0
