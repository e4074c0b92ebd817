"""The gate of `linreg run`: the speed step decides by instruction counts against the baseline
of its stack (synthetic files, no Valgrind); the bench step's word when pytest is missing; and
the counting itself (the test that counts for real skips with the reason where Valgrind is
absent)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

import linreg.jobs.main_job as main_job
from linreg.cli import main
from linreg.jobs.steps import Outcome
from linreg.report.speed_words import notes, summary
from linreg.results.job_steps import NOT_JUDGED, OK
from linreg.results.kinds import SPEED_VERDICT_FILE
from linreg.results.load import load_bench, load_speed_verdict
from linreg.stack import stack_key
from tests.bench_modules import bench_on_path
from tests.instruction_files import (
    HOST_A,
    HOST_B,
    INFER,
    KEY,
    PYTEST_ID,
    STACK,
    TRAIN,
    bench_json,
)
from tests.quick_inference_bench import COUNTED, NOT_COUNTED, quick_inference_bench

# --- the main job's speed step --------------------------------------------------------------------


@pytest.fixture
def committed(tmp_path, monkeypatch):
    """Baseline roots in a temporary folder: an instruction baseline of KEY made on host A."""
    instructions = tmp_path / "baselines" / "instructions"
    bench_json(instructions / KEY / PYTEST_ID / "0001_a.json", {TRAIN: 334e6, INFER: 95_600},
               {**STACK, **HOST_A})  # fmt: skip
    monkeypatch.setattr(main_job, "BASELINES", tmp_path / "baselines")
    monkeypatch.setattr(main_job, "INSTRUCTION_BASELINES", instructions)
    return tmp_path


def speed_step(tmp_path: Path, counts: dict[str, float], environment: dict, **kwargs):
    """The speed step on a run whose bench measured ``counts`` on another host (B)."""
    candidate = bench_json(tmp_path / "cand" / PYTEST_ID / "0001.json", counts, environment,
                           machine="amd-epyc-7b13-8c", session="run", **kwargs)  # fmt: skip
    out = tmp_path / "job"
    out.mkdir()
    made = main_job._Made(bench_files=[load_bench(candidate)])
    step = main_job._speed_step(out, None, made)
    written = out / SPEED_VERDICT_FILE
    verdict = load_speed_verdict(written) if written.exists() else None
    return step, verdict


def test_a_case_slower_by_instructions_on_another_host_of_the_stack_fails_the_step(committed):
    step, verdict = speed_step(committed, {TRAIN: 334e6 * 1.05, INFER: 95_700}, {**STACK, **HOST_B})
    assert step.status == "failed"
    assert verdict.verdict == "regressed" and verdict.gating and not verdict.same_machine
    assert verdict.gate.stack_key == KEY
    slower = [c for c in verdict.cases if c.outcome == "slower"]
    assert [(c.case, c.metric) for c in slower] == [(TRAIN, "instructions")]
    assert slower[0].ratio == pytest.approx(1.05)
    assert "wall time: no baseline for machine amd-epyc-7b13-8c" in notes(verdict)
    from linreg.report.verdict import FAIL, regressed_answer

    assert regressed_answer([("speed-verdict.json", verdict)]).status == FAIL


def test_counts_within_the_threshold_are_no_regression(committed):
    step, verdict = speed_step(committed, {TRAIN: 332.6e6, INFER: 95_900}, {**STACK, **HOST_B})
    assert step.status == OK
    assert verdict.verdict == "no regression"
    assert step.detail == (
        f"instructions: no change beyond 3 % in 2 cases, against the baseline of stack {KEY}"
    )
    from linreg.report.verdict import PASS, regressed_answer

    assert regressed_answer([("speed-verdict.json", verdict)]).status == PASS


def test_a_stack_without_a_baseline_is_said_in_one_line_with_how_to_make_one(committed):
    avx2 = {**STACK, **HOST_B, "torch_cpu_capability": "AVX2"}
    step, verdict = speed_step(committed, {TRAIN: 3.0e8}, avx2)
    assert step.status == NOT_JUDGED
    key = stack_key(avx2)
    assert step.detail == (
        f"no instruction baseline for stack {key} (make one: linreg bench --quick --baseline "
        "on a machine of this stack, then commit it)"
    )
    assert "\n" not in step.detail
    assert verdict.verdict == "no baseline" and verdict.cases == ()


def test_a_run_without_counts_is_not_judged_and_says_why(committed):
    step, verdict = speed_step(committed, {TRAIN: None}, {**STACK, **HOST_B},
                               counted="not counted: valgrind not found")  # fmt: skip
    assert step.status == NOT_JUDGED
    assert verdict.verdict == "undecided"
    assert "this run counted no instructions (not counted: valgrind not found)" in step.detail


def test_a_run_whose_counting_failed_says_so_though_it_counted_ops(committed):
    # The run counted ops (the baseline has none to match them) but Valgrind failed: the
    # failure, not only "no case counted on both sides", is what the step must say.
    failed = "failed: RuntimeError: valgrind exited 1"
    candidate = bench_json(committed / "cand" / PYTEST_ID / "0001.json", {TRAIN: None},
                           {**STACK, **HOST_B}, machine="amd-epyc-7b13-8c", session="run",
                           counted=failed)  # fmt: skip
    body = json.loads(candidate.read_text())
    body["benchmarks"][0]["extra_info"]["op_counts"] = {
        "schema_version": 1, "case": TRAIN, "engine": "eager", "device": "cpu",
        "torch": STACK["torch"], "steps_counted": 500, "seconds": 0.4,
        "ops": [{"op": "aten::add_", "calls": 1000, "sites": [
            {"file": "linreg/engines/eager.py", "line": 71, "function": "loop",
             "code": "optimizer.step()", "graph": False, "calls": 1000}]}],
    }  # fmt: skip
    candidate.write_text(json.dumps(body))
    out = committed / "job"
    out.mkdir()
    step = main_job._speed_step(out, None, main_job._Made(bench_files=[load_bench(candidate)]))
    assert step.status == NOT_JUDGED
    assert f"this run counted no instructions ({failed})" in step.detail


def test_a_run_that_measured_nothing_is_not_a_pass(tmp_path):
    out = tmp_path / "job"
    out.mkdir()
    step = main_job._speed_step(out, None, main_job._Made())
    assert step.status == "failed"
    assert step.detail == "not judged: the bench step stored no results"
    assert not (out / SPEED_VERDICT_FILE).exists()


def test_linreg_run_exits_1_when_a_case_is_slower_by_instructions(committed, monkeypatch, capsys):
    """The job's exit status, its table and the report's panel agree on the gate."""
    candidate = bench_json(committed / "cand" / PYTEST_ID / "0001.json", {TRAIN: 334e6 * 1.2},
                           {**STACK, **HOST_B}, machine="amd-epyc-7b13-8c")  # fmt: skip

    def bench(out, devices, baseline, made):
        made.bench_files.append(load_bench(candidate))
        return Outcome(OK, "synthetic")

    monkeypatch.setattr(main_job, "_train_step", lambda out, devices, made: Outcome(OK, ""))
    monkeypatch.setattr(main_job, "_bench_step", bench)
    monkeypatch.setattr(main_job, "_repro_step", lambda out, devices, made: Outcome(OK, ""))
    out = committed / "job"
    assert main(["run", "--out", str(out)]) == 1
    printed = capsys.readouterr()
    assert "FAILED" in printed.out and "run: FAIL: speed" in printed.err
    from linreg.report.inputs import collect_inputs
    from linreg.report.verdict import FAIL, verdicts

    assert verdicts(collect_inputs([out])).regressed.status == FAIL


# --- the bench step without pytest ----------------------------------------------------------------


@pytest.fixture
def no_pytest(tmp_path, monkeypatch):
    """Children whose `import pytest` fails, as where pytest is not installed."""
    fake = tmp_path / "no-pytest"
    fake.mkdir()
    (fake / "pytest.py").write_text("raise ImportError(\"No module named 'pytest'\")\n")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    return fake


def test_without_pytest_the_bench_step_says_so_and_the_speed_step_does_not_pass(
    tmp_path, no_pytest
):
    out = tmp_path / "job"
    made = main_job._Made()
    bench = main_job._bench_step(out, ["cpu"], None, made)
    assert bench.status == "failed"
    assert bench.detail.startswith("pytest is not installed")
    assert "pip install 'pytest>=8' 'pytest-benchmark>=4.0'" in bench.detail
    speed = main_job._speed_step(out, None, made)
    assert speed.status == "failed"
    assert speed.detail == "not judged: the bench step stored no results"


def test_without_pytest_linreg_bench_says_so_in_one_line(tmp_path, no_pytest, monkeypatch, capfd):
    monkeypatch.setenv("LINREG_RESULTS", str(tmp_path))
    assert main(["bench", "--quick", "--kinds", "inference", "--sizes", "10"]) == 1
    err = capfd.readouterr().err
    assert "bench: FAIL: pytest is not installed" in err and "pip install" in err


# --- counting -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instructions_module():
    """bench/instructions.py (bench/ is not a package)."""
    with bench_on_path():
        import instructions

        yield instructions


@pytest.mark.parametrize(("seed", "counted"), [(0, 0), (1, 1), (42, 42), (None, 42)])
def test_a_case_is_counted_with_its_own_seed_and_seed_0_is_a_seed(
    instructions_module, seed, counted
):
    spec = {"kind": "train", "device": "cpu", "dtype": "float32", "seed": seed, "engine": "eager"}
    assert instructions_module._config(spec).seed == counted


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_instructions_only_counts_just_the_named_cases(request):
    """One Valgrind process counts the named case; the other cases keep wall time alone."""
    run = quick_inference_bench(request)
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "counting instructions of 1 cases" in run.stdout
    counts = {b["fullname"]: b["extra_info"].get("instructions") for b in run.data["benchmarks"]}
    assert counts.pop(COUNTED) > 10_000 and counts == {NOT_COUNTED: None}


def test_a_counted_case_left_undecided_keeps_the_run_from_no_regression():
    from linreg.compare.stack_gate import gate_verdict
    from linreg.results.speed_verdict import (
        INSTRUCTIONS,
        NO_CHANGE,
        UNDECIDED,
        CaseVerdict,
        GateFacts,
        SpeedVerdict,
    )

    def case(name, outcome):
        return CaseVerdict(name, INSTRUCTIONS, outcome, 1e6, 1.04e6, (1, 1), 1.04, 0.03)

    cases = (case("a", NO_CHANGE), case("b", UNDECIDED))
    undecided = SpeedVerdict("base", "run", False, True, gate_verdict(True, cases), cases,
                             gate=GateFacts(KEY, 0.03))  # fmt: skip
    assert undecided.verdict == "undecided" and "1 of 2 cases neither" in summary(undecided)
    assert gate_verdict(True, (case("a", NO_CHANGE),)) == "no regression"


TUTORIAL_SPEC = {"kind": "train", "device": "cpu", "dtype": "float32", "seed": 42,
                 "engine": "eager"}  # fmt: skip
TARGET_SPEC = {"kind": "target_step", "device": "cpu", "dtype": "float32", "seed": 42,
               "engine": "eager", "target_spec": "mlp", "target_size": "ci"}  # fmt: skip


@pytest.mark.parametrize(("specs", "mkl", "problem"), [
    ([TUTORIAL_SPEC], None, None),
    ([TARGET_SPEC], "SSE4_2", None),
    # A process started for the other kind refuses rather than count with other kernels.
    ([TARGET_SPEC], None, "a target's cases are counted with SSE4_2"),
    ([TUTORIAL_SPEC], "SSE4_2", "the tutorial's cases are counted with MKL's choice"),
    ([TUTORIAL_SPEC, TARGET_SPEC], "SSE4_2", "counted in separate processes"),
])  # fmt: skip
def test_a_counting_process_counts_one_kind_with_that_kinds_mkl_kernels(
    instructions_module, monkeypatch, specs, mkl, problem
):
    if mkl is None:
        monkeypatch.delenv(instructions_module.MKL_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(instructions_module.MKL_VARIABLE, mkl)
    found = instructions_module._kernel_problem(specs)
    assert found is None if problem is None else problem in found


@dataclass
class Ended:
    """A Valgrind process that has counted its specs."""

    specs: list

    def poll(self) -> int:
        return 0


def test_a_target_and_the_tutorial_asked_together_are_counted_in_two_processes(
    instructions_module, monkeypatch, tmp_path
):
    started = []

    def start(workdir, targets=False):
        specs = json.loads((workdir / instructions_module.SPECS_FILE).read_text())
        started.append((workdir, targets, [s["kind"] for s in specs]))
        return Ended(specs)

    def finish(process, workdir, timeout):
        specs = process.specs
        return {i: instructions_module.Counted(float(len(s["kind"])), 1, workdir)
                for i, s in enumerate(specs)}  # fmt: skip

    monkeypatch.setattr(instructions_module, "start", start)
    monkeypatch.setattr(instructions_module, "finish", finish)
    specs = [TARGET_SPEC, TUTORIAL_SPEC, dict(TARGET_SPEC, kind="target_inference")]
    counted = instructions_module.count(specs, tmp_path)
    assert started == [
        (tmp_path, False, ["train"]),
        (tmp_path / "targets", True, ["target_step", "target_inference"]),
    ]
    # Each count comes back under its spec's own index.
    assert {i: c.per_call for i, c in counted.items()} == {0: 11.0, 1: 5.0, 2: 16.0}
