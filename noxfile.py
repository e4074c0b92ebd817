"""linreg's tasks, one session per thing a user wants to do: `nox -l` lists them.

The torch that sessions install is LINREG_TORCH (a pip requirement), default torch==2.13.0, the
CPU build this project's CI uses. On a GPU box: LINREG_TORCH="torch==2.5.1" nox -s bench.
"""

from __future__ import annotations

import os

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
    """Run the test suite (CUDA tests skip with a reason where there is no GPU)."""
    install(session, "test")
    session.run("pytest", *(session.posargs or ["-q"]))


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
