"""Every command the README shows runs as shown, twice in a row (results only grow, so a second
run must not trip over the first's files).

Each command is run in a copy of the checkout, so that nothing lands in this one. The quick ones
run in every test session; the long ones (a full benchmark slice, Valgrind, a million samples)
only with `-m readme`; the nox sessions and lines that name a folder of yours (<run-id>,
REFERENCE) are listed below with the reason they are not run here. A README command in none of
these lists fails the first test: a new command cannot go unchecked by accident.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

QUICK = {
    "linreg train --seed 42",
    "linreg train --dtype float64",
    'linreg evaluate "$(ls -d results/runs/*Z-eager-cpu-*/ | tail -n 1)"',
    "linreg env --json",
    "linreg train --optimizer adam --stop-at 250",
    'linreg train --resume-from "$(ls results/checkpoints/*.pt | tail -n 1)"',
    "linreg sweep --seeds 0:1000",
    "linreg sweep --seeds 0:100 --lrs 0.001,0.01,0.1",
    'linreg sweep --check "$(ls -d results/runs/*Z-eager-cpu-*/ | tail -n 1)" '
    '--against "$(ls results/sweeps/*.json | tail -n 1)"',
    "linreg repro --dtypes float32,bfloat16,float16,float64 --seeds 42 --threads 1 --no-golden",
    "linreg train --target chargpt --size ci --stop-at 10",
    'linreg train --resume-from "$(ls results/checkpoints/*-step10.pt | tail -n 1)"',
    "pytest-benchmark compare results/baselines/*/*/0001_*.json --group-by name",
    "pytest-benchmark --storage results/baselines/amd-epyc-2c list",
    "pytest-benchmark --storage results/baselines/amd-epyc-2c compare 0001 0002",
    "linreg history results/baselines --out site",
}
# Quick commands that read only committed files, and write only what no other command reads
# (results/repro/, site/): they run in a checkout of their own beside the chains of the others,
# so that pytest-xdist's workers share the minutes.
APART = {
    "linreg env --json",
    "pytest-benchmark --storage results/baselines/amd-epyc-2c list",
    "pytest-benchmark --storage results/baselines/amd-epyc-2c compare 0001 0002",
    "pytest-benchmark compare results/baselines/*/*/0001_*.json --group-by name",
    "linreg repro --dtypes float32,bfloat16,float16,float64 --seeds 42 --threads 1 --no-golden",
    "linreg history results/baselines --out site",
}
# Commands that stop a run and resume it from its checkpoint: a later one reads the checkpoint
# an earlier one of this chain wrote, in a checkout of its own. The other quick commands (runs,
# evaluate, sweeps) make the chain that reads runs and sweeps.
CHECKPOINTS = {
    "linreg train --optimizer adam --stop-at 250",
    'linreg train --resume-from "$(ls results/checkpoints/*.pt | tail -n 1)"',
    "linreg train --target chargpt --size ci --stop-at 10",
    'linreg train --resume-from "$(ls results/checkpoints/*-step10.pt | tail -n 1)"',
}
CHAINS = {"apart": APART, "checkpoints": CHECKPOINTS}
# Minutes each: a benchmark slice, Valgrind's start-up, a million samples. `pytest -m readme`.
LONG = {
    "linreg repro",
    "linreg repro --update-reference",
    "linreg bench --devices cpu --dtypes float32,float64 --kinds epoch,copy",
    "linreg bench --quick --baseline",
    "linreg bench --quick --processes 8",
    "pytest bench --quick --benchmark-json=quick.json",
    "pytest bench --quick --benchmark-autosave",
    "linreg repro --samples 1000000 --threads 1,2 --dtypes float32 --seeds 42 --no-golden",
    "linreg repro --target chargpt --seeds 42 --threads 1",
    "linreg run --target mlp",
    "linreg bench --target chargpt --size ci --quick",
    "pytest bench --target mlp --quick --kinds target_overhead",
    # The wheelhouse downloads from the package index; gpu-run installs from it (a rehearsal
    # here, without CUDA).
    "python3 -m nox -s wheelhouse -- --python-version 3.12 --dest .whl",
    "PYTHONPATH=. python3 -m linreg gpu-run --wheelhouse .whl",
}
BISECT = "names revisions of yours: test_bisect.py bisects a scratch repository"
RESULTS_BRANCH = "a results branch of yours: the CI example's history job"
WHEEL = "from the wheel, in a folder of its own: tests/test_wheel.py"
# Not run by the tests, with the reason.
ELSEWHERE = {
    "python3 -m pip install nox && python3 -m nox -s run": "the quickstart: CI's clean clone",
    "python3 -m pip install nox && python3 -m nox -s tests": "the quickstart: it is CI itself",
    'python3 -m pip install torch==2.13.0 -e ".[test]"': "installs into the running environment",
    "python3 -m nox -s bench": "the full matrix: tens of minutes",
    "python3 -m nox -s bench -- --quick": "linreg bench --quick: test_bench_plumbing.py",
    "python3 -m nox -l": "lists nox sessions: needs nothing of linreg",
    "python3 -m nox -s lint": "CI runs it (.ci/run)",
    "python3 -m nox -s tests -- -k checkpoint -x": "runs this suite's own tests",
    # tests/test_ab_stacks.py runs the session on fake environments: what it reuses, what it
    # makes, the pip command with the index; test_ab.py runs linreg ab itself.
    "python3 -m nox -s ab -- --candidate torch==2.14.1": "installs PyPI's CUDA torch (6 GB)",
    "LINREG_TORCH_INDEX=https://download.pytorch.org/whl/cpu python3 -m nox -s ab -- "
    "--candidate torch==2.14.1": "reaches download.pytorch.org",
    "linreg repro --resume results/repro/<id>": "needs an interrupted run: tests/test_repro.py",
    "linreg repro --target model.py:Net --dtypes float32,bfloat16,float64 --threads 1,all "
    "--engines eager,compiled": "names a target file of yours: tests/test_target_repro.py",
    # From a wheel, in a folder of one's own, on the README's model.py: tests/test_wheel.py
    # builds the wheel and installs it without dependencies (offline, torch is this one's).
    "python3 -m pip wheel --no-deps -w dist .": WHEEL,
    'python3 -m pip install torch==2.13.0 "$(ls /path/to/linreg/dist/linreg-*.whl)[bench]"': WHEEL,
    "linreg target check model.py:Net": WHEEL,
    "linreg train --target model.py:Net --size ci": WHEEL,
    "linreg repro --target model.py:Net --size ci --seeds 42 --threads 1": WHEEL + " (-m readme)",
    "linreg bench --target model.py:Net --size ci --quick --baseline": WHEEL + " (-m readme)",
    "linreg run --target model.py:Net --size ci": WHEEL + " (-m readme)",
    "linreg compare REFERENCE CANDIDATE --fail-on-regression 10%": "names your result sets",
    "linreg compare results/baselines/<machine> results/bench/<machine> "
    "--fail-on-regression 10%": "names your machine: test_speed_verdicts.py",
    "linreg compare --all results/bench/<machine>": "names your machine: test_speed_verdicts.py",
    "linreg explain REFERENCE CANDIDATE --case train --wide": "names your result sets: "
    "test_explain.py",
    "linreg history results/baselines ci-artifacts/ other-box/results --out site "
    "--threshold 5%": "names folders of yours: test_history.py",
    "linreg bisect --good v1.2 --bad HEAD --case train": BISECT,
    "linreg bisect --good v1.2 --bad HEAD --case "
    '"inference[cpu-float32-seed42-eager-n1000]"': BISECT,
    "linreg bisect --good v1.2 --bad HEAD --case "
    '"train[cuda-float32-seed42-eager]" --metric ops': BISECT,
    "git worktree add ../linreg-results results": RESULTS_BRANCH,
    "linreg --results ../linreg-results bench --quick": "the results root: test_results_root.py",
    'git -C ../linreg-results add -A && git -C ../linreg-results commit -m "bench"': RESULTS_BRANCH,
    "linreg history results/baselines ../linreg-results --out site": "names a folder of yours: "
    "test_history.py",
}


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            command = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
            if command:
                commands.append(command)
    return commands


def test_every_readme_command_is_run_by_a_test_or_said_why_not():
    known = QUICK | LONG | set(ELSEWHERE)
    assert [c for c in readme_commands() if c not in known] == []
    assert known - set(readme_commands()) == set(), "listed here, gone from the README"


def copy_checkout(copy: Path) -> Path:
    """A copy of the checkout's tracked files, results included (references, baselines)."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for name in files:
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, target)
    return copy


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("checkout"))


def run_twice(command: str, checkout: Path) -> None:
    bin_dir = checkout / ".bin"
    bin_dir.mkdir(exist_ok=True)
    # `linreg`, `pytest-benchmark` and `python3` as the README types them, from this interpreter.
    for name, module in (("linreg", "linreg"), ("pytest-benchmark", "pytest_benchmark.cli")):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module} "$@"\n')
        script.chmod(0o755)
    python3 = bin_dir / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(checkout),
    }
    command = command.replace("pytest bench", f"{sys.executable} -m pytest bench")
    for attempt in (1, 2):
        done = subprocess.run(
            ["bash", "-c", command], cwd=checkout, env=env, capture_output=True, text=True,
            timeout=1800, check=False,
        )  # fmt: skip
        # The bfloat16 matrix exits 1: its finding (the README says so), not a failure to run.
        expected = 1 if "bfloat16" in command else 0
        assert done.returncode == expected, (
            f"run {attempt} of {command!r} exited {done.returncode}:\n{done.stderr[-2000:]}"
        )
        assert "Traceback" not in done.stderr


def in_readme_order(commands: set[str]) -> list[str]:
    """In the README's order: a later command may use what an earlier one wrote."""
    return [c for c in dict.fromkeys(readme_commands()) if c in commands]


@pytest.mark.parametrize("chain", ["runs", "checkpoints", "apart"])
def test_the_quick_readme_commands_run_twice_each_in_readme_order(chain, tmp_path):
    # One test a chain, not one per command: a later command reads what an earlier one wrote
    # (evaluate the newest run, resume the newest checkpoint), and pytest-xdist's workers each
    # hold a checkout of their own, so a chain's commands run in order on one of them.
    assert APART <= QUICK and CHECKPOINTS <= QUICK and not APART & CHECKPOINTS
    commands = CHAINS.get(chain, QUICK - APART - CHECKPOINTS)
    checkout = copy_checkout(tmp_path)
    for command in in_readme_order(commands):
        run_twice(command, checkout)


@pytest.mark.readme
@pytest.mark.parametrize("command", in_readme_order(LONG))
def test_a_long_readme_command_runs_twice(command, checkout):
    run_twice(command, checkout)
