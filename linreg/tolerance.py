"""Tolerance: (rtol, atol) per dtype, from torch.testing.assert_close's table or pyproject.toml."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linreg.config import DTYPES
from linreg.errors import ConfigError


@dataclass(frozen=True)
class Tolerance:
    """|a − b| ≤ atol + rtol·|b|, as torch.testing.assert_close checks it."""

    rtol: float
    atol: float

    def __post_init__(self) -> None:
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(name, f"must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(name, f"must be a finite number >= 0, got {value!r}")

    def allows(self, a: float, b: float) -> bool:
        return abs(a - b) <= self.atol + self.rtol * abs(b)


# torch.testing.assert_close's defaults (torch/testing/_comparison.py).
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float16": Tolerance(rtol=1e-3, atol=1e-5),
    "bfloat16": Tolerance(rtol=1.6e-2, atol=1e-5),
    "float32": Tolerance(rtol=1.3e-6, atol=1e-5),
    "float64": Tolerance(rtol=1e-7, atol=1e-7),
}

# Lower precision first: a pair is judged by the looser tolerance of its two dtypes.
_LOOSENESS = ("bfloat16", "float16", "float32", "float64")


def looser_dtype(a: str, b: str) -> str:
    return min(a, b, key=_LOOSENESS.index)


@dataclass(frozen=True)
class Tolerances:
    """One Tolerance per dtype."""

    by_dtype: dict[str, Tolerance]

    def for_dtype(self, dtype: str) -> Tolerance:
        return self.by_dtype[dtype]

    def with_overrides(
        self, rtol: float | None = None, atol: float | None = None, dtype: str | None = None
    ) -> Tolerances:
        """Command-line overrides: for one dtype, or for every dtype when ``dtype`` is None."""
        if rtol is None and atol is None:
            return self
        targets = [dtype] if dtype else list(self.by_dtype)
        changed = dict(self.by_dtype)
        for name in targets:
            if name not in changed:
                raise ConfigError("dtype", f"must be one of {', '.join(DTYPES)}; got {name!r}")
            old = changed[name]
            changed[name] = Tolerance(
                rtol=old.rtol if rtol is None else rtol, atol=old.atol if atol is None else atol
            )
        return Tolerances(changed)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {k: {"rtol": v.rtol, "atol": v.atol} for k, v in self.by_dtype.items()}


def default_tolerances() -> Tolerances:
    return Tolerances(dict(DEFAULT_TOLERANCES))


def load_tolerances(pyproject: str | Path | None = "pyproject.toml") -> Tolerances:
    """Defaults, overridden by ``[tool.linreg] tolerance.<dtype> = {rtol = …, atol = …}``.

    The file is read with tomllib, so overrides apply on Python ≥ 3.11 (or with tomli installed
    on 3.10); without either, the defaults stand.
    """
    tolerances = default_tolerances()
    if pyproject is None or not Path(pyproject).is_file():
        return tolerances
    toml = _toml_module()
    if toml is None:
        return tolerances
    path = Path(pyproject)
    try:
        data = toml.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, toml.TOMLDecodeError) as exc:
        raise ConfigError("pyproject", f"{path}: not readable TOML ({exc})") from exc
    section: Any = data
    for table in ("tool", "tool.linreg"):
        section = section.get(table.rpartition(".")[2], {})
        if not isinstance(section, dict):
            raise ConfigError("pyproject", f"{path}: [{table}] must be a table, got {section!r}")
    return Tolerances({**tolerances.by_dtype, **_parse_section(section.get("tolerance", {}), path)})


def _parse_section(section: Any, path: Path) -> dict[str, Tolerance]:
    where = f"{path} [tool.linreg] tolerance"
    if not isinstance(section, dict):
        raise ConfigError("pyproject", f"{where}: expected a table of dtypes")
    parsed = {}
    for dtype, entry in section.items():
        if dtype not in DTYPES:
            raise ConfigError(
                "pyproject", f"{where}.{dtype}: unknown dtype (known: {', '.join(DTYPES)})"
            )
        if not isinstance(entry, dict) or set(entry) - {"rtol", "atol"}:
            raise ConfigError(
                "pyproject", f"{where}.{dtype}: expected {{rtol = <number>, atol = <number>}}"
            )
        base = DEFAULT_TOLERANCES[dtype]
        try:
            parsed[dtype] = Tolerance(
                rtol=entry.get("rtol", base.rtol), atol=entry.get("atol", base.atol)
            )
        except ConfigError as exc:
            raise ConfigError("pyproject", f"{where}.{dtype}: {exc}") from exc
    return parsed


def _toml_module() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli  # type: ignore[import-not-found]
    except ImportError:
        return None
    return tomli
