from __future__ import annotations

import sys

import pytest
import torch

from linreg.errors import ConfigError
from linreg.tolerance import Tolerance, default_tolerances, load_tolerances, looser_dtype

needs_tomllib = pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib needs Python 3.11")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_defaults_match_assert_close(dtype: str) -> None:
    tol = default_tolerances().for_dtype(dtype)
    expected = torch.tensor([1.0], dtype=getattr(torch, dtype))
    step = tol.atol + tol.rtol  # the allowed difference at 1.0
    inside = (expected.double() + 0.5 * step).to(expected.dtype)
    outside = (expected.double() + 4 * step).to(expected.dtype)
    torch.testing.assert_close(inside, expected)  # torch's own defaults for this dtype
    with pytest.raises(AssertionError):
        torch.testing.assert_close(outside, expected)
    assert tol.allows(float(inside), 1.0)
    assert not tol.allows(float(outside), 1.0)


def test_pair_is_judged_by_the_looser_dtype() -> None:
    assert looser_dtype("float64", "float32") == "float32"
    assert looser_dtype("float16", "bfloat16") == "bfloat16"


def test_command_line_override_changes_every_dtype() -> None:
    tols = default_tolerances().with_overrides(rtol=0.5)
    assert all(t.rtol == 0.5 for t in tols.by_dtype.values())
    assert tols.for_dtype("float64").atol == 1e-7


def test_negative_tolerance_is_refused() -> None:
    with pytest.raises(ConfigError, match="atol: must be a finite number >= 0"):
        Tolerance(rtol=0.0, atol=-1.0)


@needs_tomllib
def test_pyproject_overrides_one_dtype(tmp_path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.linreg]\ntolerance.float32 = { rtol = 1e-3, atol = 2e-3 }\n")
    tols = load_tolerances(path)
    assert tols.for_dtype("float32") == Tolerance(rtol=1e-3, atol=2e-3)
    assert tols.for_dtype("float64") == default_tolerances().for_dtype("float64")


@needs_tomllib
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tolerance.float8 = { rtol = 1 }", "float8: unknown dtype"),
        ("tolerance.float32 = 3", "float32: expected"),
        ("tolerance.float32 = { rtol = 'x' }", "rtol: must be a number"),
        ("tolerance.float32 = { rtol = 1, speed = 2 }", "float32: expected"),
    ],
)
def test_malformed_pyproject_entry_is_named(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[tool.linreg]\n{text}\n")
    with pytest.raises(ConfigError, match=message):
        load_tolerances(path)


@needs_tomllib
def test_unreadable_toml_is_named(tmp_path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.linreg\n")
    with pytest.raises(ConfigError, match="not readable TOML"):
        load_tolerances(path)


def test_missing_pyproject_gives_defaults(tmp_path) -> None:
    assert load_tolerances(tmp_path / "none.toml") == default_tolerances()
