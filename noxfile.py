"""linreg's tasks, one session per thing a user wants to do: `nox -l` lists them.

The torch that sessions install is LINREG_TORCH (a pip requirement), default torch==2.13.0, the
CPU build this project's CI uses. On a GPU box: LINREG_TORCH="torch==2.5.1" nox -s bench.
LINREG_TORCH_INDEX names the index torch comes from, e.g. PyTorch's CPU wheels
(https://download.pytorch.org/whl/cpu): PyPI's Linux wheels of torch are CUDA builds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint"]

HERE = Path(__file__).resolve().parent
TORCH = os.environ.get("LINREG_TORCH", "torch==2.13.0")
TORCH_INDEX = os.environ.get("LINREG_TORCH_INDEX") or None


def torch_install_args(requirement: str, index: str | None) -> list[str]:
    """pip install's arguments for torch: from the index named, else pip's own. A pinned torch
    from an index of one flavour is pinned to that build (torch==2.14.1+cpu), so that an index
    in pip's own configuration cannot serve another build instead."""
    if not index:
        return [requirement]
    flavour = index_flavour(index)
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        wanted = Requirement(requirement)
    except InvalidRequirement:
        return ["--index-url", index, requirement]
    pins = list(wanted.specifier)
    if (
        flavour is not None
        and wanted.name.lower() == "torch"
        and not wanted.url
        and len(pins) == 1
        and pins[0].operator == "=="
        and not re.search(r"[+*]", pins[0].version)
    ):
        requirement = f"{wanted.name}=={pins[0].version}+{flavour}"
    return ["--index-url", index, requirement]


def install(session: nox.Session, extras: str = "") -> None:
    # torch first and pinned: the project's own `torch>=2.4` alone would pull a multi-GB CUDA build.
    session.install(*torch_install_args(TORCH, TORCH_INDEX))
    session.install("-e", f".[{extras}]" if extras else ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite, one worker per core (CUDA tests skip with a reason without a GPU)."""
    install(session, "test")
    # Most tests wait on a child process or one core's work: two workers on two cores halve the
    # suite. worksteal: the few minute-long tests do not queue behind each other on one worker.
    # The 30 slowest tests are listed at the end, so that a test that grows shows in CI's log.
    default = ["-q", "-n", "auto", "--dist", "worksteal", "--durations=30"]
    session.run("pytest", *(session.posargs or default))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", *(session.posargs or ["."]))
    session.run("ruff", "format", "--check", ".")


@nox.session
def run(session: nox.Session) -> None:
    """The main job: train, quick bench, repro check and the HTML report under results/."""
    install(session, "bench")
    session.run("linreg", "run", *session.posargs)


@nox.session
def perf(session: nox.Session) -> None:
    """The main job's time against its parts run alone (ratio <= 0.8): -- --rounds N --json F"""
    install(session, "bench")
    session.run("python", "bench/job_overlap.py", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Build an HTML report: nox -s report -- RESULT_SETS... --out report.html"""
    if not session.posargs:
        session.error("Usage: nox -s report -- RESULT_SET [RESULT_SET...] [--out report.html]")
    install(session)
    session.run("linreg", "report", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark suite into results/bench/<machine>/ (`-- --quick` is CI's profile)."""
    install(session, "bench")
    session.run("linreg", "bench", *session.posargs)


@nox.session
def steps_scale(session: nox.Session) -> None:
    """Step detection on 10,000 sessions and on 200,000 points: times, recall, memory."""
    install(session)
    session.run("python", "bench/steps_scale.py", *session.posargs)


@nox.session
def history_scale(session: nox.Session) -> None:
    """linreg history on 10 hosts × 1,000 sessions × 20 cases: build time, index draw, recall."""
    install(session, "test")  # playwright, to time the index page in Chromium
    session.run("python", "bench/history_scale.py", *session.posargs)


# What a stack's Python needs to run linreg's bench suite and repro matrix from a checkout on its
# PYTHONPATH: pyproject.toml's dependencies and its bench extra, as modules (a test keeps them
# in step).
AB_MODULES = ("torch", "pandas", "plotly", "typer", "rich", "scipy", "ruptures", "pytest",
              "pytest_benchmark")  # fmt: skip
# Run by each environment's Python: its torch's version and build, read from torch/version.py
# (importing torch would take seconds per environment), and which of AB_MODULES it lacks.
_PROBE = """
import importlib.util, json, os, sys
facts = {"torch": None, "cuda": None, "hip": None, "xpu": None}
spec = importlib.util.find_spec("torch")
if spec is not None and spec.origin:
    found = {}
    try:
        with open(os.path.join(os.path.dirname(spec.origin), "version.py")) as f:
            exec(f.read(), found)
    except Exception:  # a torch whose version.py imports torch: ask torch itself
        import torch
        found = {"__version__": torch.__version__, **vars(torch.version)}
    facts = {"torch": found.get("__version__"), "cuda": found.get("cuda"),
             "hip": found.get("hip"), "xpu": found.get("xpu")}
facts["missing"] = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]
print(json.dumps(facts))
"""


@dataclass(frozen=True)
class TorchEnv:
    """A virtual environment under .nox/ and the torch in it, as its Python says."""

    path: Path
    torch: str | None
    flavour: str | None  # cpu, cu130, … (linreg.results.ab_result.build_flavour)
    missing: tuple[str, ...]

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def probe_env(path: Path) -> TorchEnv | None:
    """The environment at ``path``, or None where there is none or its Python does not answer."""
    python = path / "bin" / "python"
    if not python.is_file():
        return None
    done = subprocess.run([str(python), "-c", _PROBE, *AB_MODULES], capture_output=True,
                          text=True, check=False, timeout=120)  # fmt: skip
    try:
        facts = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    torch = facts.get("torch")
    flavour = None
    if torch:
        # The one rule the A/B's record keeps (pure Python: nox's interpreter imports it).
        sys.path.insert(0, str(HERE))
        try:
            from linreg.results.ab_result import build_flavour
        finally:
            sys.path.remove(str(HERE))
        flavour = build_flavour(torch, facts.get("cuda"), facts.get("hip"), facts.get("xpu"))
    return TorchEnv(path, torch, flavour, tuple(facts.get("missing", ())))


def index_flavour(index: str | None) -> str | None:
    """The flavour a PyTorch wheel index serves, by its name (…/whl/cpu: cpu); None for another."""
    if not index:
        return None
    last = index.rstrip("/").rsplit("/", 1)[-1]
    return last if re.fullmatch(r"cpu|cu\d+|rocm\d+(\.\d+)?|xpu", last) else None


def satisfies(env: TorchEnv, requirement: str) -> bool:
    """Whether the environment's torch is one pip would keep for the requirement (torch==2.13.0
    keeps 2.13.0+cpu), and it has what the A/B runs. A path or URL is never satisfied."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion

    try:
        wanted = Requirement(requirement)
    except InvalidRequirement:
        return False
    if wanted.name.lower() != "torch" or wanted.url or env.torch is None or env.missing:
        return False
    try:
        return wanted.specifier.contains(env.torch, prereleases=True)
    except InvalidVersion:
        return False


def choose_env(
    envs: list[TorchEnv], requirement: str, index: str | None, like: str | None
) -> TorchEnv | None:
    """An environment to reuse for the requirement. With an index named, one of the flavour it
    serves (an index of no known flavour: only the environment made from it); else any, those
    of ``like`` (the reference's flavour, for the candidate) first, then by name."""
    fits = [e for e in envs if satisfies(e, requirement)]
    flavour = index_flavour(index)
    if index and flavour is None:
        fits = [e for e in fits if e.path.name == env_name(requirement, index)]
    elif flavour is not None:
        fits = [e for e in fits if e.flavour == flavour]
    return min(fits, key=lambda e: (e.flavour != like, e.path.name), default=None)


def env_name(requirement: str, index: str | None) -> str:
    """The environment the A/B makes for a requirement (and an index): ab-torch-2-14-1-cpu."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", requirement).strip("-")
    if index:
        name += "-" + (index_flavour(index) or "".join(c for c in index if c.isalnum())[-24:])
    return f"ab-{name}"


def _ab_env(
    session: nox.Session,
    envs: list[TorchEnv],
    role: str,
    requirement: str,
    root: str,
    like: str | None,
) -> TorchEnv:
    """The environment of one side: one that exists and fits, else a new one."""
    found = choose_env(envs, requirement, TORCH_INDEX, like)
    if found is not None:
        session.log(f"ab: {role} {requirement}: reusing {found.path} (torch {found.torch})")
        return found
    path = session.env_dir.parent / env_name(requirement, TORCH_INDEX)
    python = path / "bin" / "python"
    where = TORCH_INDEX or "pip's index (on Linux PyPI's is a CUDA build: GBs, minutes)"
    session.log(f"ab: {role} {requirement}: making {path}, torch from {where}; pip shows its "
                "progress")  # fmt: skip
    if not python.is_file():
        session.run(sys.executable, "-m", "venv", str(path), external=True)
    # pip's exit 1 (no such torch) is answered below, with what to do about it.
    session.run(str(python), "-m", "pip", "install", *torch_install_args(requirement, TORCH_INDEX),
                external=True, success_codes=[0, 1])  # fmt: skip
    _check_torch(session, probe_env(path), path, requirement)
    session.log(f"ab: {role}: installing linreg's dependencies from {root}")
    session.run(str(python), "-m", "pip", "install", "-e", f"{root}[bench]", external=True)
    made = probe_env(path)
    if made is None:
        session.error(f"ab: {path}: its Python stopped answering after pip install -e {root}")
    envs[:] = [e for e in envs if e.path != path] + [made]
    return made


def _check_torch(session: nox.Session, made: TorchEnv | None, path: Path, requirement: str) -> None:
    """The torch pip installed is the one asked for, of the index's flavour where it names one."""
    wanted = index_flavour(TORCH_INDEX)
    if made is None or not satisfies(dataclasses.replace(made, missing=()), requirement):
        said = f"ab: {path}: pip installed no {requirement} (its output is above)"
        if TORCH_INDEX:
            said += (
                f"; {TORCH_INDEX} may not hold it{f' as a {wanted} build' if wanted else ''}: "
                "compare a version it holds, or, without LINREG_TORCH_INDEX, read the A/B as "
                "version and build together"
            )
        session.error(said)
    if wanted is not None and made.flavour != wanted:
        session.error(
            f"ab: {path}: pip installed torch {made.torch}, not a {wanted} build: an index in "
            "pip's own configuration served it (pip config list)"
        )


@nox.session(venv_backend="none")
def ab(session: nox.Session) -> None:
    """Same-machine A/B of two stacks: nox -s ab -- --candidate torch==2.14.1 [--reference …]"""
    args = list(session.posargs)
    specs = {"reference": TORCH, "candidate": None}
    roots = {"reference": ".", "candidate": "."}
    rest = []
    while args:
        arg = args.pop(0)
        name = arg.removeprefix("--")
        if name in specs and args:
            specs[name] = args.pop(0)
        elif name.endswith("-root") and name.removesuffix("-root") in roots and args:
            roots[name.removesuffix("-root")] = args.pop(0)
        else:
            rest.append(arg)
    if specs["candidate"] is None:
        session.error(
            "Usage: nox -s ab -- --candidate REQUIREMENT [--reference REQUIREMENT] "
            "[--candidate-root DIR] [--reference-root DIR] [linreg ab options]"
        )
    # The environments nox made already (the main job's, the tests', an earlier A/B's): one
    # whose torch fits a side is that side's, rather than GBs of torch installed again.
    folder = session.env_dir.parent
    session.log(f"ab: looking for a torch in the environments under {folder}")
    envs = [e for e in map(probe_env, sorted(folder.glob("*/"))) if e is not None]
    reference = _ab_env(session, envs, "reference", specs["reference"], roots["reference"], None)
    candidate = _ab_env(session, envs, "candidate", specs["candidate"], roots["candidate"],
                        reference.flavour)  # fmt: skip
    # linreg ab itself runs from this checkout, by the reference's Python; it says first what
    # tells the two stacks apart (their versions, their build flavours).
    session.run(
        str(reference.python), "-m", "linreg", "ab",
        "--reference-python", str(reference.python), "--reference-root", roots["reference"],
        "--candidate-python", str(candidate.python), "--candidate-root", roots["candidate"],
        *rest, external=True, env={"PYTHONPATH": str(HERE)},
    )  # fmt: skip


@nox.session
def repro(session: nox.Session) -> None:
    """Golden check: the repro matrix against results/reference/ (exit 1 when a check fails)."""
    install(session)
    session.run("linreg", "repro", *session.posargs)


@nox.session
def gpu_rehearsal(session: nox.Session) -> None:
    """linreg gpu-run without CUDA, as CI runs it: CUDA steps skipped with the reason."""
    install(session, "bench")
    out = tempfile.mkdtemp(prefix="gpu-run-", dir=session.create_tmp())
    session.run("linreg", "gpu-run", "--out", out, *session.posargs)


# Pure-Python packages `linreg gpu-run` needs that a stock CUDA PyTorch image may lack: the
# report's plotly and what plotly requires (narwhals, packaging). A GPU machine that reaches no
# index installs them from the wheelhouse (`linreg gpu-run --wheelhouse DIR`); give other names
# after -- for an image that lacks more (typer, rich, pytest-benchmark, with their requirements).
WHEELHOUSE = ("plotly", "narwhals", "packaging")
# The platforms pip may take a wheel for: pure-Python wheels fit all; these are x86-64 Linux's.
WHEEL_PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)


@nox.session
def wheelhouse(session: nox.Session) -> None:
    """Wheels for a GPU machine with no index: -- --python-version 3.12 --dest .whl [NAME...]"""
    args = list(session.posargs)
    options = {"--python-version": None, "--dest": ".whl"}
    names = []
    while args:
        arg = args.pop(0)
        if arg in options and args:
            options[arg] = args.pop(0)
        elif arg.startswith("-"):
            session.error(f"Usage: nox -s wheelhouse -- --python-version X.Y [--dest DIR] [NAME...]"
                          f" (unknown {arg})")  # fmt: skip
        else:
            names.append(arg)
    version, dest = options["--python-version"], options["--dest"]
    if version is None or not re.fullmatch(r"3\.\d+", version):
        session.error("Usage: nox -s wheelhouse -- --python-version X.Y [--dest DIR] [NAME...]")
    platforms = [f"--platform={p}" for p in WHEEL_PLATFORMS]
    session.run(
        "python", "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        f"--python-version={version}", "--implementation=cp", *platforms, f"--dest={dest}",
        *(names or WHEELHOUSE),
    )  # fmt: skip
    # Two versions of one package stop the whole install on the GPU machine.
    seen: dict[str, list[str]] = {}
    for wheel in sorted(os.listdir(dest)):
        if wheel.endswith(".whl"):
            seen.setdefault(wheel.split("-")[0].lower(), []).append(wheel)
    twice = {name: files for name, files in seen.items() if len(files) > 1}
    if twice:
        session.error(f"{dest} holds two versions of {', '.join(twice)}: keep one of each")
    session.log(f"{dest}: {', '.join(sorted(f for files in seen.values() for f in files))}")


# Torch versions the sweep runs; the first is the baseline the others are compared with.
# LINREG_REPRO_TORCH="2.13.0,2.5.1" nox -s repro_torch, or nox -s "repro_torch(torch='2.13.0')".
REPRO_TORCH = [v.strip() for v in os.environ.get("LINREG_REPRO_TORCH", "2.13.0").split(",")]


@nox.session
@nox.parametrize("torch", REPRO_TORCH)
def repro_torch(session: nox.Session, torch: str) -> None:
    """The repro matrix under each torch version, each compared with the first version's."""
    session.install(f"torch=={torch}")
    session.install("-e", ".[test]")
    out = f"results/repro/torch-{torch}"
    session.run("linreg", "repro", "--no-golden", "--out", out, *session.posargs)
    baseline = f"results/repro/torch-{REPRO_TORCH[0]}"
    if torch != REPRO_TORCH[0] and os.path.isdir(baseline):
        session.run("linreg", "compare", _latest(baseline), _latest(out))


def _latest(folder: str) -> str:
    """The newest result set in a repro output folder (their names start with a UTC stamp)."""
    names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    return os.path.join(folder, names[-1])
