"""linreg as a user gets it: a wheel built from this checkout's tracked files, installed into a
fresh virtual environment, run in a folder of its own on the README's "Your model" target.

The shortcut, said plainly: the wheel is installed with --no-deps, and the new environment
finds linreg's dependencies (torch, pytest, ...) in this interpreter's site-packages through a
path file, so that no test downloads torch. linreg itself, its bench suite, golden references
and baselines can come from the wheel alone: the children run outside the checkout, with no
PYTHONPATH, and the first test checks where each was found.

Every session: the build, the install, what the wheel carries, the README target checked and
trained, a bench case, the refusals (about 30 s of CPU). With `-m readme`: the tutorial's repro
against the golden references, the main job and the target's repro matrix (minutes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("needs a git checkout to build the wheel from its tracked files")
    return [name for name in listed.stdout.splitlines() if (REPO / name).is_file()]


def readme_target() -> str:
    """The Python block of the README's "Your model" section, as a user would copy it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Your model\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return block


def outside_env() -> dict[str, str]:
    """This environment without what would lead a child to the checkout's linreg (PYTHONPATH:
    pip too would take the checkout's egg-info for linreg installed) or results."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "LINREG_RESULTS") and not name.startswith("PYTEST_XDIST_")
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the tracked files (no build/ or egg-info of the checkout's
    own, nothing ignored: what a clean clone would give)."""
    source = tmp_path_factory.mktemp("source")
    for name in tracked_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(dist), str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (made,) = dist.glob("linreg-*.whl")
    return made


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory) -> Path:
    """A fresh environment holding the wheel's linreg; its `bin/` folder."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    Path(site, "linreg_test_dependencies.pth").write_text("\n".join(ours) + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        capture_output=True, text=True, check=False, env=outside_env(),
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    return root / "bin"


@pytest.fixture(scope="module")
def folder(venv: Path, tmp_path_factory) -> Path:
    """A user's folder outside the checkout, holding the README's model.py."""
    home = tmp_path_factory.mktemp("user")
    assert REPO not in home.parents
    (home / "model.py").write_text(readme_target(), encoding="utf-8")
    return home


def linreg(venv: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = outside_env()
    env["PATH"] = f"{venv}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "200"  # one line per message, whatever the terminal
    return subprocess.run(
        [str(venv / "linreg"), *args], cwd=folder, env=env, capture_output=True, text=True,
        check=False, timeout=600,
    )  # fmt: skip


def files_under(root: Path, bytecode: bool = False) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if bytecode or "__pycache__" not in p.parts
    }


def test_the_wheel_carries_the_bench_suite_references_and_baselines(venv, folder):
    probe = (
        "import json, linreg, linreg.paths as p; print(json.dumps({'package': linreg.__file__, "
        "'checkout': p.CHECKOUT, 'bench': str(p.BENCH_DIR), 'reference': str(p.REFERENCE_DIR), "
        "'baselines': str(p.BASELINES), 'instructions': str(p.INSTRUCTION_BASELINES)}))"
    )
    said = subprocess.run(
        [str(venv / "python"), "-c", probe], cwd=folder, env=outside_env(), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    where = json.loads(said.stdout)
    site = venv.parent / "lib"
    assert Path(where["package"]).is_relative_to(site)
    assert where["checkout"] is False
    tracked = tracked_files()
    for key, folder_in_checkout in (
        ("bench", "bench"),
        ("reference", "results/reference"),
        ("baselines", "results/baselines"),
    ):
        inside = Path(where[key])
        assert inside.is_relative_to(site), key
        expected = {
            name[len(folder_in_checkout) + 1 :]
            for name in tracked
            if name.startswith(folder_in_checkout + "/")
        }
        assert expected, f"nothing tracked under {folder_in_checkout}"
        carried = {name for name in files_under(inside) if (inside / name).is_file()}
        assert carried == expected, key
    assert Path(where["instructions"]).is_dir()


def test_the_readme_target_checks_and_trains_into_the_folders_results(venv, folder):
    checked = linreg(venv, folder, "target", "check", "model.py:Net")
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    done = linreg(venv, folder, "train", "--target", "model.py:Net", "--size", "ci")
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = (folder / "results" / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert len(record["train_loss"]) == 20  # the README's ci size
    assert (run / "model.pth").is_file()


@pytest.mark.readme  # ~25 s of CPU; the first test shows the references carried and found
def test_the_tutorial_repro_finds_the_golden_references_inside_the_wheel(venv, folder):
    # float32 and its float64 reference, one seed, one thread: the cheapest set with golden ones.
    done = linreg(
        venv, folder, "repro", "--seeds", "42", "--threads", "1", "--dtypes", "float32",
        "--devices", "cpu", "--engines", "eager",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    found = re.search(r"golden references: (\d+) of \1 runs have one in (\S+)", done.stdout)
    assert found, done.stdout[-2000:]
    assert Path(found[2]).is_relative_to(venv.parent)
    assert [p.name for p in (folder / "results" / "repro").iterdir()]


def test_the_bench_suite_runs_from_the_wheel_and_writes_nothing_into_it(venv, folder):
    bundled = next((venv.parent / "lib").glob("python*/site-packages/linreg/_bundled"))
    before = files_under(bundled, bytecode=True)  # pip compiled it; pytest must add nothing
    done = linreg(
        venv, folder, "bench", "--devices", "cpu", "--dtypes", "float32", "--seeds", "42",
        "--engines", "eager", "--kinds", "inference", "--sizes", "10",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    stored = list((folder / "results" / "bench").glob("*/*/0001_*.json"))
    assert len(stored) == 1
    cases = [b["name"] for b in json.loads(stored[0].read_text())["benchmarks"]]
    assert cases == ["bench_inference[cpu-float32-seed42-eager-n10]"]
    assert files_under(bundled, bytecode=True) == before


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (("bench", "--quick", "--baseline"), "baseline"),
        (("repro", "--update-reference", "--seeds", "42"), "update-reference"),
    ],
)
def test_records_of_a_checkout_are_not_written_into_the_installed_package(
    venv, folder, command, option
):
    done = linreg(venv, folder, *command)
    assert done.returncode == 2
    assert f"--{option}: " in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


@pytest.mark.readme
def test_the_main_job_and_the_targets_repro_run_from_the_wheel(venv, folder):
    """Minutes: the tutorial's main job (Valgrind's counts gated on the wheel's own stack
    baselines where this is that stack) and the README target's repro matrix."""
    job = linreg(venv, folder, "run")
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-2000:]
    (report,) = folder.glob("results/run-*/report.html")
    assert "golden references" in job.stdout
    repro = linreg(
        venv, folder, "repro", "--target", "model.py:Net", "--size", "ci", "--seeds", "42",
        "--threads", "1",
    )  # fmt: skip
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-2000:]
    assert re.search(r"repro: OK: net: (\d+) of \1 checks hold", repro.stdout), repro.stdout
    assert report.stat().st_size > 0


@pytest.mark.readme
def test_the_readme_target_gets_a_baseline_in_the_folder_and_run_answers_regressed(venv, folder):
    """Minutes (Valgrind): the README's target benched as its baseline, which lands in the
    folder's results/ (never in the package), then `linreg run --target` gates on it."""
    before = set(folder.glob("results/run-*"))
    bench = linreg(venv, folder, "bench", "--target", "model.py:Net", "--size", "ci", "--quick",
                   "--baseline")  # fmt: skip
    assert bench.returncode == 0, bench.stdout[-3000:] + bench.stderr[-2000:]
    assert list(folder.glob("results/baselines/targets/net-*/instructions/*/*/*.json"))
    job = linreg(venv, folder, "run", "--target", "model.py:Net", "--size", "ci")
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-2000:]
    assert "no baseline" not in job.stdout
    assert re.search(r"speed\s*│\s*ok\s*│\s*instructions: no change", job.stdout), job.stdout
    (new,) = set(folder.glob("results/run-*")) - before
    page = (new / "report.html").read_text(encoding="utf-8")
    assert "Regressed?" in page and "linreg report: net" in page
