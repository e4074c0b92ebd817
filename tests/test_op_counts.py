"""Op counts: the aten ops a step makes, counted by a TorchDispatchMode with the lines that made
them; their record; the rule that diffs two of them; the bench suite keeping them with each
case. A plant from outside the package (a sitecustomize that patches SGD's step) is found by
the counts of one process per side, on the CPU (here) and on CUDA (test_op_counts_cuda.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from linreg.cli import main
from linreg.compare.op_delta import GONE, MORE, MOVED, NEW, op_deltas, same_ops, stack_differences
from linreg.config import TrainConfig
from linreg.engines import compiled
from linreg.engines.compiled import compiler_problem
from linreg.engines.op_counts import count_ops, count_training
from linreg.errors import ResultSetError
from linreg.model import build_model
from linreg.results.bench_file import BenchCase
from linreg.results.load import load_bench
from linreg.results.op_counts import OP_COUNTS_KEY, OpCount, OpCounts, OpSite, case_op_counts
from tests.built_once import built_once
from tests.op_plant import PLANT, PLANT_LINE

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN_CASE = "bench_train.py::bench_train[cpu-float32-seed42-eager]"


def record(counted, steps=None, case="case", device="cpu") -> OpCounts:
    return OpCounts.from_calls(case, "eager", device, torch.__version__,
                               steps or counted.steps, counted.calls, counted.seconds)  # fmt: skip


def per_step(counts: OpCounts) -> dict[str, Fraction]:
    return {c.op: Fraction(c.calls, counts.steps_counted) for c in counts.ops}


# --- counting -----------------------------------------------------------------------------------


def test_two_counts_of_the_same_training_are_equal():
    config = TrainConfig(epochs=30, eval_every=10)
    first, second = count_training(config), count_training(config)
    assert first.calls == second.calls and first.steps == second.steps == 30
    assert same_ops(record(first), record(second))


def test_a_step_counts_forward_backward_and_update_each_at_its_own_line():
    counts = record(count_training(TrainConfig(epochs=20, eval_every=100)))
    ops = counts.by_op()
    # The update: one add_ per parameter (nn.Linear(1, 1) has two) at optimizer.step().
    (update,) = ops["aten::add_"].sites
    assert update.file == "linreg/engines/eager.py" and update.code == "optimizer.step()"
    assert Fraction(update.calls, counts.steps_counted) == 2
    # The forward's matrix product at the model's line, its backward's at loss.backward().
    assert {s.file for s in ops["aten::addmm"].sites} == {"linreg/model.py"}
    assert {s.code for s in ops["aten::mm"].sites} == {"loss.backward()"}
    # Markers of torch.profiler (record_function around step and zero_grad) are not ops.
    assert all(c.op.startswith("aten::") for c in counts.ops)


def test_inference_counts_the_forward_s_kernels_as_training_does():
    """Under inference mode a composite op (aten::linear) reaches the mode whole; it is counted
    by the ops it is made of, as with autograd on."""
    model = build_model(TrainConfig())
    X = torch.linspace(0, 1, 100).unsqueeze(1)

    def forward():
        with torch.inference_mode():
            return model(X)

    inference = record(count_ops(lambda: forward))
    assert per_step(inference) == {"aten::addmm": 1, "aten::t": 1}
    assert {s.file for c in inference.ops for s in c.sites} == {"linreg/model.py"}


def test_steps_must_be_counted():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        count_ops(lambda: lambda: None, steps=0)


@pytest.mark.slow
def test_the_compiled_engine_counts_its_graph_s_ops_at_the_step_s_lines():
    problem = compiler_problem("cpu")
    if problem:
        pytest.skip(problem)
    config = TrainConfig(engine="compiled", epochs=20, eval_every=10)
    original = compiled._compiled_step
    counts = record(count_training(config))
    assert compiled._compiled_step is original  # the engine's own step is given back
    assert same_ops(counts, record(count_training(config)))
    graph_sites = [(c.op, s) for c in counts.ops for s in c.sites if s.graph]
    assert graph_sites and all(s.file == "linreg/engines/compiled.py" for _, s in graph_sites)
    # The L1 slope, once a step, inside the graph; the evaluations (2 in 20 epochs) outside it.
    (sign,) = counts.by_op()["aten::sign"].sites
    assert sign.graph and sign.code == "slope = torch.sign(residual)"
    assert Fraction(sign.calls, counts.steps_counted) == 1
    evaluated = [s for c in counts.ops for s in c.sites if "test_loss" in s.code]
    assert evaluated and not any(s.graph for s in evaluated)


# --- the plant, found by the quick bench's counts (one process per side) ------------------------


def _planted_quick_bench(tmp_path: Path) -> None:
    """The quick bench's train case with the plant on the path, as planted.json in ``tmp_path``;
    the same command as the clean side's (conftest's quick_train_bench)."""
    out = tmp_path / "planted.json"
    plant = tmp_path / "plant"
    plant.mkdir()
    (plant / "sitecustomize.py").write_text(PLANT)
    path = [str(plant), str(REPO_ROOT)]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "--quick", "--kinds=train", "--instructions=no",
         "-p", "no:cacheprovider", f"--benchmark-json={out}",
         f"--benchmark-storage=file://{tmp_path / 'storage'}"],
        cwd=REPO_ROOT, env={**_without_xdist(os.environ), "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ops counted for 1 cases" in result.stdout


def _without_xdist(environ) -> dict[str, str]:
    """The environment less pytest-xdist's worker variables: a module fixture runs before the
    conftest's autouse fixture drops them, and pytest-benchmark switches itself off where it
    sees them (no JSON hook: nothing counted)."""
    return {k: v for k, v in environ.items() if not k.startswith("PYTEST_XDIST_")}


@pytest.fixture(scope="module")
def quick_sets(request, quick_train_bench) -> dict[str, Path]:
    """The quick bench's train case counted clean and planted, each by its own bench process
    (no instruction counts: the ops decide), as the files it wrote; once a session, whichever
    pytest-xdist worker asks first."""
    clean, printed = quick_train_bench
    assert "ops counted for 1 cases" in printed
    folder = built_once(request, "op-counts-planted", _planted_quick_bench)
    return {"clean": clean, "planted": folder / "planted.json"}


@pytest.fixture(scope="module")
def quick_counts(quick_sets) -> dict[str, OpCounts]:
    found = {}
    for name, path in quick_sets.items():
        (case,) = [c for c in load_bench(path).cases if c.fullname == TRAIN_CASE]
        found[name] = case_op_counts(path, case)
    return found


@pytest.mark.slow
def test_the_quick_bench_keeps_each_case_s_op_counts_with_its_cost(quick_counts):
    clean = quick_counts["clean"]
    assert clean.case == TRAIN_CASE and clean.steps_counted == TrainConfig().epochs
    assert clean.device == "cpu" and clean.torch_version == torch.__version__
    assert clean.seconds is not None and clean.seconds > 0


@pytest.mark.slow
def test_a_planted_exp_sum_per_parameter_shows_as_two_of_each_a_step_at_the_planted_line(
    quick_counts,
):
    deltas = op_deltas(quick_counts["clean"], quick_counts["planted"])
    changed = [d for d in deltas if d.change != MOVED]
    assert [(d.op, d.delta) for d in changed] == [("aten::exp", 2.0), ("aten::sum", 2.0)]
    # SGD's own update now runs inside the planted wrapper: the same ops, from its line.
    (moved,) = [d for d in deltas if d.change == MOVED]
    assert moved.op == "aten::add_" and moved.sites[0].file == "sitecustomize.py"
    exp, total = changed
    assert (exp.change, total.change) == (NEW, MORE)
    for delta in changed:
        site = delta.sites[0]  # the new site first
        assert (site.file, site.line, site.function) == ("sitecustomize.py", PLANT_LINE,
                                                         "_planted_step")  # fmt: skip
        assert site.change == NEW and site.candidate_per_step == 2 and "exp(p)" in site.code
    assert len(total.sites) == 1  # the backward's own sum is unchanged and not listed
    assert not same_ops(quick_counts["clean"], quick_counts["planted"])


@pytest.mark.slow
def test_compare_and_explain_name_the_planted_ops_a_step_at_the_planted_line(
    quick_sets, capsys, monkeypatch
):
    """Without instruction counts the ops decide: compare gates on them (exit 1) and lists
    them before anything else; explain lists them for the case."""
    monkeypatch.setenv("COLUMNS", "100")
    clean, planted = str(quick_sets["clean"]), str(quick_sets["planted"])
    assert main(["compare", clean, planted, "--fail-on-regression", "10%", "--no-replay"]) == 1
    printed = capsys.readouterr()
    compared = [" ".join(line.split()) for line in printed.out.splitlines()]
    assert "op counts decide 1 case without instruction counts" in " ".join(compared)
    assert "Which ops a step changed: train, ops slower" in compared
    for row in (f"aten::exp 0 → 2 +2 sitecustomize.py:{PLANT_LINE} _planted_step",
                f"aten::sum 1 → 3 +2 sitecustomize.py:{PLANT_LINE} _planted_step"):  # fmt: skip
        assert row in compared
    assert "slower (ops ×" in printed.err
    assert main(["explain", clean, planted, "--case", "train"]) == 0
    explained = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert f"aten::exp 0 → 2 +2 sitecustomize.py:{PLANT_LINE} _planted_step" in explained
    assert "+4 ops a step (21.12 → 25.12): +2 aten::exp, +2 aten::sum" in " ".join(explained)


@pytest.mark.slow
def test_two_unchanged_runs_list_nothing(quick_sets, quick_counts, tmp_path, capsys):
    """The bench process's count and this process's count of the same run are the same, and
    compare, given both, lists no op."""
    clean = quick_counts["clean"]
    here = record(count_training(TrainConfig(threads=1)), case=TRAIN_CASE)
    assert op_deltas(clean, here) == () and same_ops(clean, here)
    data = json.loads(quick_sets["clean"].read_text())
    data["machine_info"]["linreg_session"] = "counted-here"
    for bench in data["benchmarks"]:
        if bench["fullname"] == TRAIN_CASE:
            bench["extra_info"][OP_COUNTS_KEY] = here.to_dict()
    again = tmp_path / "again.json"
    again.write_text(json.dumps(data))
    assert main(["compare", str(quick_sets["clean"]), str(again), "--no-replay"]) == 0
    out = capsys.readouterr().out
    assert "Which ops a step changed" not in out and "same ops" in out


# --- the record ---------------------------------------------------------------------------------

_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_sites = st.builds(OpSite, file=_names, line=st.integers(0, 10_000), function=_names,
                   calls=st.integers(1, 10**6), code=st.text(max_size=20),
                   graph=st.booleans())  # fmt: skip


@st.composite
def op_counts(draw, steps=None) -> OpCounts:
    by_op = draw(st.dictionaries(_names, st.lists(_sites, min_size=1, max_size=3), max_size=5))
    calls = [
        type("Call", (), {"op": op, **site.to_dict()})
        for op, sites in by_op.items()
        for site in sites
    ]
    steps = steps if steps is not None else draw(st.integers(1, 1000))
    return OpCounts.from_calls("case", "eager", "cpu", "2.13.0", steps, calls, 0.5)


@settings(max_examples=200, deadline=None)
@given(op_counts())
def test_a_record_reads_back_as_it_was_written(counts):
    assert OpCounts.from_dict(json.loads(json.dumps(counts.to_dict()))) == counts


def test_from_calls_merges_the_overloads_of_an_op_made_at_one_line():
    calls = [type("Call", (), {"op": "aten::sum", "file": "f.py", "line": 3, "function": "g",
                               "code": "x.sum()", "graph": False, "calls": n})
             for n in (2, 5)]  # fmt: skip
    (count,) = OpCounts.from_calls("case", "eager", "cpu", "2.13.0", 1, calls).ops
    assert count == OpCount("aten::sum", 7, (OpSite("f.py", 3, "g", 7, "x.sum()"),))


def _valid() -> dict:
    site = {"file": "f.py", "line": 3, "function": "g", "code": "", "graph": False, "calls": 4}
    return {"schema_version": 1, "case": "c", "engine": "eager", "device": "cpu",
            "torch": "2.13.0", "steps_counted": 2, "seconds": 0.1,
            "ops": [{"op": "aten::mm", "calls": 4, "sites": [site]}]}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("schema_version",), 9, "schema_version must be 1"),
        (("case",), "", "case must be a non-empty string"),
        (("steps_counted",), 0, "steps_counted must be an integer >= 1"),
        (("steps_counted",), True, "steps_counted must be an integer >= 1"),
        (("seconds",), float("nan"), "seconds must be a finite number"),
        (("ops",), {}, "ops must be a list"),
        (("ops", 0, "op"), None, r"ops\[0\].op must be a non-empty string"),
        (("ops", 0, "calls"), 5, r"ops\[0\].calls \(5\) is not the sum of its sites' calls"),
        (("ops", 0, "sites"), [], r"ops\[0\].sites must be a non-empty list"),
        (("ops", 0, "sites", 0, "line"), -1, r"ops\[0\].sites\[0\].line must be an integer >= 0"),
        (("ops", 0, "sites", 0, "calls"), 1.5, r"ops\[0\].sites\[0\].calls must be an integer"),
        (("ops", 0, "sites", 0, "graph"), "no", r"ops\[0\].sites\[0\].graph must be true or"),
    ],
)
def test_a_malformed_record_is_refused_by_the_field_it_breaks(path, value, message):
    data = _valid()
    OpCounts.from_dict(data)  # valid as it stands
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValueError, match=message):
        OpCounts.from_dict(data)


def test_an_op_named_twice_or_a_site_named_twice_is_refused():
    data = _valid()
    data["ops"].append(data["ops"][0])
    with pytest.raises(ValueError, match="ops names one op twice"):
        OpCounts.from_dict(data)
    data = _valid()
    data["ops"][0]["sites"].append(dict(data["ops"][0]["sites"][0]))
    data["ops"][0]["calls"] = 8
    with pytest.raises(ValueError, match="sites names one site twice"):
        OpCounts.from_dict(data)


def test_a_bench_case_with_malformed_op_counts_is_refused_by_file_and_case(tmp_path):
    data = _valid()
    data["steps_counted"] = "two"
    case = BenchCase("n", "bench_train.py::x", {}, (1.0,), {OP_COUNTS_KEY: data})
    with pytest.raises(ResultSetError, match=r"f\.json: bench_train\.py::x: malformed op counts"):
        case_op_counts(tmp_path / "f.json", case)
    assert case_op_counts(tmp_path / "f.json", BenchCase("n", "x", {}, (1.0,))) is None


# --- the diff rule ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(op_counts(), op_counts())
def test_no_change_is_exactly_equal_counts_per_step_and_the_diff_is_antisymmetric(ref, cand):
    deltas = op_deltas(ref, cand)
    assert (deltas == ()) == same_ops(ref, cand) == same_ops(cand, ref)
    assert op_deltas(ref, ref) == ()
    back = {d.op: d.delta for d in op_deltas(cand, ref)}
    assert {d.op: -d.delta for d in deltas} == back
    sizes = [abs(Fraction(d.delta)) for d in deltas]
    assert sizes == sorted(sizes, reverse=True)  # the largest change first
    for delta in deltas:
        assert delta.sites or delta.change == MOVED
        assert (delta.change == MOVED) == (delta.delta == 0)
        news = [s.change == NEW for s in delta.sites]
        assert news == sorted(news, reverse=True)  # new sites first


@settings(max_examples=100, deadline=None)
@given(op_counts(steps=1), st.integers(2, 50))
def test_counts_compare_per_step_whatever_the_steps_counted(one_step, steps):
    """The same ops a step, counted over more steps, are no change."""
    scaled = OpCounts.from_dict(
        {**one_step.to_dict(), "steps_counted": steps,
         "ops": [{**c.to_dict(), "calls": c.calls * steps,
                  "sites": [{**s.to_dict(), "calls": s.calls * steps} for s in c.sites]}
                 for c in one_step.ops]}
    )  # fmt: skip
    assert same_ops(one_step, scaled) and op_deltas(one_step, scaled) == ()


def test_an_op_that_moved_lines_is_listed_with_both_sites_and_no_change_in_count():
    site = {"file": "f.py", "line": 3, "function": "g", "code": "", "graph": False, "calls": 4}
    ref = OpCounts.from_dict(_valid())
    moved = _valid()
    moved["ops"][0]["sites"] = [{**site, "line": 4}]
    (delta,) = op_deltas(ref, OpCounts.from_dict(moved))
    assert delta.change == MOVED and delta.delta == 0
    assert [(s.line, s.change) for s in delta.sites] == [(4, NEW), (3, GONE)]
    assert stack_differences(ref, OpCounts.from_dict({**moved, "device": "cuda"})) == ("device",)
