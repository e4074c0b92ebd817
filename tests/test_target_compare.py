"""`linreg compare` of a target's runs: the same config of the same target version is judged bit
for bit; a run of an edited target is "another version of the target", said, never judged as
the same target."""

from __future__ import annotations

import pytest

from linreg.cli import main
from linreg.compare.target_runs import compare_target_runs
from linreg.errors import ResultSetError
from tests.target_files import USER_TARGET, variant, write


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three runs of the user's target, 5 steps each: twice as written, once edited."""
    root = tmp_path_factory.mktemp("target-compare")
    path = write(root, "model.py", USER_TARGET)
    spec = f"{path}:Net"
    for name in ("first", "again"):
        assert main(["train", "--target", spec, "--steps", "5", "--out", str(root / name)]) == 0
    write(root, "model.py", variant("lr=1e-2", "lr=2e-2"))
    assert main(["train", "--target", spec, "--steps", "5", "--out", str(root / "edited")]) == 0
    return root


def test_the_same_config_of_the_same_version_is_bit_identical(trained, capsys):
    result = compare_target_runs(trained / "first", trained / "again")
    (pair,) = result.pairs
    assert result.ok and pair.status == "bit-identical" and not pair.another_version
    capsys.readouterr()
    assert main(["compare", str(trained / "first"), str(trained / "again")]) == 0
    assert "bit-identical" in capsys.readouterr().out


def test_an_edited_target_is_another_version_said_and_never_judged_as_the_same(trained, capsys):
    result = compare_target_runs(trained / "first", trained / "edited")
    (pair,) = result.pairs
    assert pair.another_version and pair.reference_hash != pair.candidate_hash
    assert result.ok  # information, not a failure of the same target
    # The learning rate changed the first update: the loss after it differs, the first does not.
    assert pair.difference.startswith("the train loss") and pair.step == 1
    capsys.readouterr()
    assert main(["compare", str(trained / "first"), str(trained / "edited")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"another version of the target net (code hash {pair.reference_hash[:12]}" in out


def test_sets_without_a_common_config_are_refused_by_name(trained, tmp_path):
    write(tmp_path, "other.py", USER_TARGET.replace("class Net", "class Other"))
    assert main(["train", "--target", f"{tmp_path / 'other.py'}:Other", "--steps", "5",
                 "--out", str(tmp_path / "other")]) == 0  # fmt: skip
    with pytest.raises(ResultSetError, match="no run of one config on both sides"):
        compare_target_runs(trained / "first", tmp_path / "other")
