"""One results root for every command: the working folder's results/ unless `linreg --results`
or LINREG_RESULTS names another; a benchmark run from another folder lands there, never in the
checkout that holds the suite."""

from __future__ import annotations

import json

import pytest

from linreg.cli import main
from linreg.paths import PROJECT_ROOT, RESULTS_VARIABLE, results_root


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working folder outside the checkout, with no results root set (restored after)."""
    monkeypatch.delenv(RESULTS_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_benchmark_from_another_folder_lands_in_that_folders_results(elsewhere, capsys):
    before = set((PROJECT_ROOT / "results").rglob("*"))
    args = ["bench", "--quick", "--kinds", "train", "--machine", "root-test",
            "--", "--instructions=no"]  # fmt: skip
    assert main(args) == 0
    stored = list((elsewhere / "results" / "bench" / "root-test").rglob("*.json"))
    assert len(stored) == 1, capsys.readouterr().out
    assert set((PROJECT_ROOT / "results").rglob("*")) == before


def test_train_and_repro_write_under_the_root_given(elsewhere, capsys):
    root = elsewhere / "shared-results"
    assert main(["--results", str(root), "train", "--epochs", "10", "--eval-every", "5"]) == 0
    assert len(list((root / "runs").iterdir())) == 1
    repro = ["--results", str(root), "repro", "--seeds", "42", "--threads", "1",
             "--dtypes", "float32", "--no-golden"]  # fmt: skip
    assert main(repro) == 0
    [result_set] = (root / "repro").iterdir()
    assert json.loads((result_set / "checks.json").read_text())["ok"] is True
    assert not (elsewhere / "results").exists()


def test_the_environment_variable_is_the_root_when_no_option_says(elsewhere, monkeypatch):
    monkeypatch.setenv(RESULTS_VARIABLE, str(elsewhere / "from-env"))
    assert results_root() == elsewhere / "from-env"
    assert main(["sweep", "--seeds", "0:3", "--epochs", "20"]) == 0
    assert len(list((elsewhere / "from-env" / "sweeps").glob("*.json"))) == 1


def test_without_either_the_root_is_the_working_folders_results(elsewhere):
    assert results_root().resolve() == (elsewhere / "results").resolve()


def test_an_empty_results_option_is_refused_in_one_line(elsewhere, capsys):
    assert main(["--results", " ", "env"]) == 2
    assert "--results: must name a folder" in capsys.readouterr().err


def test_the_ci_example_appends_to_a_results_branch_and_publishes_the_site():
    import yaml

    workflow = yaml.safe_load((PROJECT_ROOT / "examples/ci/github-actions.yml").read_text())
    history = workflow["jobs"]["history"]
    # YAML reads the key `on` as True.
    assert workflow[True]["push"]["branches"] == ["main"] and "push" in history["if"]
    script = "\n".join(step.get("run", "") for step in history["steps"])
    assert "linreg --results ../results bench --quick" in script
    assert "git push -q origin results" in script
    assert "linreg history results/baselines ../results --out site" in script
    uses = [step.get("uses", "") for step in history["steps"]]
    assert any(u.startswith("actions/deploy-pages") for u in uses)


def test_a_target_s_baselines_are_the_checkout_s_or_installed_the_results_root_s(
    tmp_path, monkeypatch, capsys
):
    """An installed linreg keeps a user's target baselines in the user's folder (the package is
    no place for records), so `linreg run --target` there can answer "Regressed?"."""
    from linreg import paths
    from linreg.results.target_baselines import version_folder
    from linreg.target_config import TargetRef

    ref = TargetRef(spec="model.py:Net", name="net", code_hash="ab" * 32)
    monkeypatch.setenv(RESULTS_VARIABLE, str(tmp_path / "mine"))
    assert paths.CHECKOUT
    assert version_folder(ref) == paths.BASELINES / "targets" / f"net-{ref.short_hash}"
    monkeypatch.setattr(paths, "CHECKOUT", False)
    assert (
        version_folder(ref) == tmp_path / "mine" / "baselines" / "targets" / f"net-{ref.short_hash}"
    )
    capsys.readouterr()
    # --kinds nothing: were the refusal not to stand, the command still ends at once (exit 2,
    # on the kind), never benching into the checkout's baselines.
    assert main(["bench", "--baseline", "--kinds", "nothing"]) == 2
    assert "installed, not a checkout" in capsys.readouterr().err
    # With --target the baseline is the user's: the refusal does not stand (here the kind does).
    assert main(["bench", "--target", "mlp", "--baseline", "--kinds", "nothing"]) == 2
    err = capsys.readouterr().err
    assert "installed" not in err and "nothing" in err
