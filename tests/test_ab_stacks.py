"""What tells an A/B's two stacks apart (torch version and build flavour), and where `nox -s ab`
finds them: an environment under .nox/ that fits is reused, a missing one is made, from the
torch index LINREG_TORCH_INDEX names where it names one.

The session runs against a stand-in of nox's Session that records the commands and acts them
out on fake environments (each one's Python answers the probe from a file): no pip, no network.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import types
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from linreg.report.ab_stack_words import stacks_clause, stacks_headline
from linreg.results.ab_result import StackDifference, StackInfo, build_flavour, wheel_index

REPO = Path(__file__).resolve().parent.parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@pytest.fixture(scope="module")
def noxfile() -> types.ModuleType:
    """noxfile.py, imported under a stand-in `nox` (the test environment has no nox)."""
    stub = types.ModuleType("nox")
    stub.options = types.SimpleNamespace()
    stub.session = lambda func=None, **_: func if func is not None else (lambda f: f)
    stub.parametrize = lambda *_, **__: lambda f: f
    stub.Session = object
    saved = sys.modules.get("nox")
    sys.modules["nox"] = stub
    try:
        spec = importlib.util.spec_from_file_location("linreg_noxfile", REPO / "noxfile.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up while made
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop("linreg_noxfile", None)
        if saved is None:
            del sys.modules["nox"]
        else:
            sys.modules["nox"] = saved
    return module


def make_env(path: Path, torch_version: str | None, cuda: str | None, missing: tuple[str, ...]):
    """A fake environment: its Python prints its facts, as the probe would find them."""
    (path / "bin").mkdir(parents=True, exist_ok=True)
    facts = {"torch": torch_version, "cuda": cuda, "hip": None, "xpu": None,
             "missing": list(missing)}  # fmt: skip
    (path / "bin" / "facts.json").write_text(json.dumps(facts))
    python = path / "bin" / "python"
    python.write_text('#!/bin/sh\ncat "$(dirname "$0")/facts.json"\n')
    python.chmod(0o755)


class SessionError(Exception):
    pass


class FakeSession:
    """nox's Session as the ab session uses it: the commands are recorded and acted out."""

    def __init__(
        self, nox_dir: Path, posargs: list[str], modules: tuple[str, ...], held: tuple[str, ...]
    ):
        self.env_dir = nox_dir / "ab"
        self.held = held  # what the index named holds, where one is named
        self.posargs = posargs
        self.modules = modules
        self.commands: list[list[str]] = []
        self.logs: list[str] = []

    def log(self, text: str) -> None:
        self.logs.append(text)

    def error(self, text: str) -> None:
        raise SessionError(text)

    def run(self, *args: str, external: bool = False, env: dict | None = None, **_) -> None:
        command = [str(a) for a in args]
        self.commands.append(command)
        if command[1:3] == ["-m", "venv"]:
            make_env(Path(command[3]), None, None, self.modules)
            return
        if command[1:4] != ["-m", "pip", "install"]:
            return
        env_path = Path(command[0]).parent.parent
        facts = json.loads((env_path / "bin" / "facts.json").read_text())
        if "-e" in command:  # linreg's dependencies
            make_env(env_path, facts["torch"], facts["cuda"], ())
            return
        index = command[command.index("--index-url") + 1] if "--index-url" in command else None
        if index and command[-1] not in self.held:
            return  # pip's "no matching distribution"
        version = command[-1].split("==")[1].split("+")[0]
        # PyPI's Linux torch is a CUDA build; an index serves its own flavour.
        flavour = index.rsplit("/", 1)[-1] if index else "cu130"
        cuda = "13.0" if flavour == "cu130" else None
        left = tuple(m for m in facts["missing"] if m != "torch")
        make_env(env_path, f"{version}+{flavour}", cuda, left)

    def made(self) -> list[str]:
        """The environments it made or installed into."""
        return [c[3] if c[1:3] == ["-m", "venv"] else c[0] for c in self.commands[:-1]]

    @property
    def ab_command(self) -> list[str]:
        assert self.commands[-1][1:4] == ["-m", "linreg", "ab"], self.commands[-1]
        return self.commands[-1]


def python_of(command: list[str], role: str) -> str:
    return command[command.index(f"--{role}-python") + 1]


@pytest.fixture
def nox_dir(tmp_path, noxfile, monkeypatch) -> Path:
    """A .nox/ holding the main job's environment (torch 2.13.0+cpu and all linreg needs)."""
    monkeypatch.setattr(noxfile, "TORCH", "torch==2.13.0")
    monkeypatch.setattr(noxfile, "TORCH_INDEX", None)
    folder = tmp_path / ".nox"
    make_env(folder / "run", "2.13.0+cpu", None, ())
    return folder


def run_session(noxfile, nox_dir: Path, *posargs: str, held: tuple[str, ...] = ()) -> FakeSession:
    session = FakeSession(nox_dir, list(posargs), noxfile.AB_MODULES, held)
    noxfile.ab(session)
    return session


def test_the_ab_session_reuses_the_main_jobs_torch_and_makes_the_candidates_once(noxfile, nox_dir):
    session = run_session(noxfile, nox_dir, "--candidate", "torch==2.14.1", "--processes", "2")
    made = nox_dir / "ab-torch-2-14-1"
    # The reference is the main job's environment, untouched; the candidate's is made.
    assert set(session.made()) == {str(made), str(made / "bin" / "python")}
    assert [str(made / "bin" / "python"), "-m", "pip", "install", "torch==2.14.1"] in (
        session.commands
    )
    command = session.ab_command
    assert command[0] == python_of(command, "reference") == str(nox_dir / "run" / "bin" / "python")
    assert python_of(command, "candidate") == str(made / "bin" / "python")
    assert command[-2:] == ["--processes", "2"]
    assert any("reusing" in line and "2.13.0+cpu" in line for line in session.logs)
    assert any("making" in line and "pip shows its progress" in line for line in session.logs)
    # The same requirement again: nothing is installed.
    again = run_session(noxfile, nox_dir, "--candidate", "torch==2.14.1")
    assert again.made() == [] and again.ab_command[1:] == command[1:-2]


def test_the_same_requirement_on_both_sides_is_one_environment(noxfile, nox_dir):
    session = run_session(noxfile, nox_dir, "--candidate", "torch==2.13.0")
    command = session.ab_command
    assert session.made() == []
    assert python_of(command, "reference") == python_of(command, "candidate")


def test_with_a_torch_index_torch_comes_from_it_and_only_its_flavour_is_reused(
    noxfile, nox_dir, monkeypatch
):
    monkeypatch.setattr(noxfile, "TORCH_INDEX", CPU_INDEX)
    make_env(nox_dir / "ab-torch-2-14-1", "2.14.1+cu130", "13.0", ())  # an earlier A/B's
    session = run_session(noxfile, nox_dir, "--candidate", "torch==2.14.1",
                          held=("torch==2.14.1+cpu",))  # fmt: skip
    made = nox_dir / "ab-torch-2-14-1-cpu"
    # Pinned to the index's build: no other index in pip's configuration can serve another.
    pip = [str(made / "bin" / "python"), "-m", "pip", "install", "--index-url", CPU_INDEX,
           "torch==2.14.1+cpu"]  # fmt: skip
    assert pip in session.commands
    command = session.ab_command
    assert python_of(command, "reference") == str(nox_dir / "run" / "bin" / "python")
    assert python_of(command, "candidate") == str(made / "bin" / "python")


def test_a_version_the_index_lacks_in_its_flavour_stops_the_session_saying_what_to_do(
    noxfile, nox_dir, monkeypatch
):
    monkeypatch.setattr(noxfile, "TORCH_INDEX", CPU_INDEX)
    with pytest.raises(SessionError, match=r"pip installed no torch==2\.14\.1 .*may not hold it "
                       r"as a cpu build: compare a version it holds, or, without "
                       r"LINREG_TORCH_INDEX"):  # fmt: skip
        run_session(noxfile, nox_dir, "--candidate", "torch==2.14.1")


def test_the_candidate_of_the_references_flavour_is_taken_where_both_exist(noxfile, nox_dir):
    make_env(nox_dir / "a-cuda", "2.14.1+cu130", "13.0", ())
    make_env(nox_dir / "b-cpu", "2.14.1+cpu", None, ())
    command = run_session(noxfile, nox_dir, "--candidate", "torch==2.14.1").ab_command
    assert python_of(command, "candidate") == str(nox_dir / "b-cpu" / "bin" / "python")


def test_an_environment_that_lacks_what_the_ab_runs_is_not_reused(noxfile, nox_dir):
    make_env(nox_dir / "lint", "2.14.1+cpu", None, ("pytest_benchmark",))
    session = run_session(noxfile, nox_dir, "--candidate", "torch==2.14.1")
    assert str(nox_dir / "ab-torch-2-14-1") in session.made()


def test_the_ab_session_without_a_candidate_says_its_usage(noxfile, nox_dir):
    with pytest.raises(SessionError, match=r"^Usage: nox -s ab -- --candidate REQUIREMENT"):
        run_session(noxfile, nox_dir, "--processes", "2")


@pytest.mark.parametrize(
    ("requirement", "index", "asked"),
    [
        ("torch==2.13.0", None, "torch==2.13.0"),
        ("torch==2.13.0", CPU_INDEX, "torch==2.13.0+cpu"),
        ("torch==2.14.1", "https://download.pytorch.org/whl/cu130/", "torch==2.14.1+cu130"),
        # What cannot carry a build tag is asked for as it is.
        ("torch>=2.4", CPU_INDEX, "torch>=2.4"),
        ("torch==2.14.*", CPU_INDEX, "torch==2.14.*"),
        ("torch==2.14.1+cu130", CPU_INDEX, "torch==2.14.1+cu130"),
        ("torch==2.14.1", "https://mirror.example/simple", "torch==2.14.1"),
    ],
)
def test_every_session_installs_torch_from_the_index_named(noxfile, requirement, index, asked):
    args = noxfile.torch_install_args(requirement, index)
    assert args == ([asked] if index is None else ["--index-url", index, asked])


versions = st.tuples(*(st.integers(0, 30) for _ in range(3))).map(lambda v: ".".join(map(str, v)))
tags = st.sampled_from(["", "+cpu", "+cu130", "+cu118", "+rocm6.4", "+xpu", "+git1a2b3c"])


@given(versions, versions, tags)
def test_a_pinned_torch_is_satisfied_by_its_version_in_any_build(noxfile, pinned, found, tag):
    env = noxfile.TorchEnv(Path("e"), found + tag, None, ())
    assert noxfile.satisfies(env, f"torch=={pinned}") == (pinned == found)
    # A requirement pip cannot be asked about without installing it is never taken as met.
    assert not noxfile.satisfies(env, f"torch @ file:///wheels/torch-{found}.whl")
    assert not noxfile.satisfies(noxfile.TorchEnv(Path("e"), found, None, ("rich",)), "torch")


def test_the_probe_reads_the_torch_of_a_real_environment(noxfile, tmp_path):
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    python = env / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    found = noxfile.probe_env(env)
    version = torch.version
    assert found is not None and found.torch == torch.__version__
    assert found.flavour == build_flavour(torch.__version__, version.cuda,
                                          getattr(version, "hip", None))  # fmt: skip
    assert found.missing == ()


def test_the_modules_the_ab_needs_are_linregs_dependencies_and_bench_extra(noxfile):
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["bench"]
    names = {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower().replace("-", "_")
             for r in requirements}  # fmt: skip
    assert names == set(noxfile.AB_MODULES)


# The build flavours and what a stack's words say of two of them.

flavours = st.sampled_from(["cpu", "cu130", "cu126", "rocm6.4", "xpu"])


@given(versions, flavours, st.sampled_from([None, "12.6", "13.0"]))
def test_a_versions_flavour_tag_names_its_build(version, flavour, cuda):
    assert build_flavour(f"{version}+{flavour}", cuda, None) == flavour


@given(versions, st.integers(10, 13), st.integers(0, 9))
def test_an_untagged_build_is_named_by_what_it_was_built_for(version, major, minor):
    assert build_flavour(version, f"{major}.{minor}", None) == f"cu{major}{minor}"
    assert build_flavour(version, None, f"6.{minor}.42131-abc") == f"rocm6.{minor}"
    assert build_flavour(version, None, None) == build_flavour(f"{version}+git1a2b", None, None)
    assert build_flavour(version, None, None) == "cpu"


@given(versions, tags, st.sampled_from([None, "13.0"]))
def test_a_stack_reads_back_as_written_and_an_older_record_keeps_what_its_tag_says(
    version, tag, cuda
):
    torch_version = version + tag
    stack = StackInfo("3.11.7", torch_version, "/venv/bin/python", "/src", cuda,
                      build_flavour(torch_version, cuda, None))  # fmt: skip
    assert StackInfo.from_dict(json.loads(json.dumps(stack.to_dict()))) == stack
    older = {k: v for k, v in stack.to_dict().items() if k not in ("cuda", "flavour")}
    flavour = StackInfo.from_dict(older).flavour
    assert flavour == (tag[1:] if tag and tag != "+git1a2b3c" else "")


def _stack(version: str, flavour: str) -> StackInfo:
    return StackInfo("3.11.7", f"{version}+{flavour}", "python", "root", None, flavour)


@given(versions, flavours, versions, flavours)
def test_the_headline_says_both_differ_exactly_when_version_and_flavour_do(
    reference_version, reference_flavour, candidate_version, candidate_flavour
):
    difference = StackDifference(
        _stack(reference_version, reference_flavour), _stack(candidate_version, candidate_flavour)
    )
    clause, headline = stacks_clause(difference), stacks_headline(difference)
    version_differs = reference_version != candidate_version
    flavour_differs = reference_flavour != candidate_flavour
    assert clause.startswith(f"torch {reference_version}+{reference_flavour}")
    assert ("version and build flavour both differ" in clause) == (
        version_differs and flavour_differs
    )
    assert ("another build flavour" in clause) == (flavour_differs and not version_differs)
    # Where the flavours differ, how to compare like with like: the candidate's version from
    # the wheel index of the reference's flavour.
    remedy = f"torch=={candidate_version} --index-url {wheel_index(reference_flavour)}"
    assert (remedy in headline) == flavour_differs
    assert headline.startswith(clause)


def test_a_flavour_pytorch_does_not_name_has_no_wheel_index():
    assert wheel_index("cpu") == CPU_INDEX
    assert wheel_index("git1a2b") is None and wheel_index("") is None


def test_the_reports_how_fast_says_first_that_version_and_flavour_both_differ():
    from linreg.report.ab_answers import ab_speed
    from linreg.results.ab_result import StackDifference
    from linreg.results.speed_verdict import WALL, CaseVerdict, SpeedVerdict

    case = CaseVerdict(
        "bench_train.py::bench_train[cpu-float32-seed42-eager]",
        WALL,
        "undecided",
        0.13,
        0.16,
        (8, 8),
        1.26,
        0.1,
        reason="8 vs 8 processes",
    )
    verdict = SpeedVerdict("r", "c", True, False, "undecided", (case,), interleaved=True)
    sides = {"reference": "torch 2.13.0+cpu", "candidate": "torch 2.14.1+cu130"}
    cpu = StackInfo("3.11.7", "2.13.0+cpu", "/r/python", "/r", None, "cpu")
    cuda = StackInfo("3.11.7", "2.14.1+cu130", "/c/python", "/c", "13.0", "cu130")
    answer = ab_speed(verdict, None, sides, {}, StackDifference(cpu, cuda))
    assert answer.headline.startswith(
        "torch 2.14.1+cu130 against torch 2.13.0+cpu (version and build flavour both differ): "
    )
    assert "For like with like" in answer.lines[0].text
    same = ab_speed(verdict, None, sides, {}, StackDifference(cpu, cpu))
    assert "flavour" not in same.headline and "like with like" not in same.lines[0].text
