"""linreg's tasks, one session per thing a user wants to do: `nox -l` lists them.

The torch that sessions install is LINREG_TORCH (a pip requirement), default torch==2.13.0, the
CPU build this project's CI uses. On a GPU box: LINREG_TORCH="torch==2.5.1" nox -s bench.
"""

from __future__ import annotations

import os
import re
import tempfile

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint"]

TORCH = os.environ.get("LINREG_TORCH", "torch==2.13.0")


def install(session: nox.Session, extras: str = "") -> None:
    # torch first and pinned: the project's own `torch>=2.4` alone would pull a multi-GB CUDA build.
    session.install(TORCH)
    session.install("-e", f".[{extras}]" if extras else ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite, one worker per core (CUDA tests skip with a reason without a GPU)."""
    install(session, "test")
    # Most tests wait on a child process or one core's work: two workers on two cores halve the
    # suite. worksteal: the few minute-long tests do not queue behind each other on one worker.
    session.run("pytest", *(session.posargs or ["-q", "-n", "auto", "--dist", "worksteal"]))


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


@nox.session
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
    install(session, "bench")
    pythons = {}
    for role in ("reference", "candidate"):
        # One environment per requirement, kept beside the session's own: a CUDA torch is GBs.
        name = "".join(c if c.isalnum() else "-" for c in specs[role])
        env = os.path.join(os.path.dirname(session.virtualenv.location), f"ab-{name}")
        python = os.path.join(env, "bin", "python")
        if not os.path.exists(python):
            session.run("python", "-m", "venv", env)
        session.run(python, "-m", "pip", "install", "-q", specs[role], external=True)
        session.run(python, "-m", "pip", "install", "-q", "-e", f"{roots[role]}[bench]",
                    external=True)  # fmt: skip
        pythons[role] = python
    session.run(
        "linreg", "ab",
        "--reference-python", pythons["reference"], "--reference-root", roots["reference"],
        "--candidate-python", pythons["candidate"], "--candidate-root", roots["candidate"],
        *rest,
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
