"""Kept callgrind profiles for the tests: the tiny dumps of tests/data/profiles/ put beside a
bench file as `linreg bench` keeps a real one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linreg.results.profiles import (
    CALLS_KEY,
    PROFILE_KEY,
    compress_dump,
    free_folder_name,
    missing_annotate,
    write_profiles,
)
from tests.instruction_files import TRAIN

PROFILES = Path(__file__).resolve().parent / "data" / "profiles"
needs_annotate = pytest.mark.skipif(
    missing_annotate() is not None, reason="callgrind_annotate not installed (package valgrind)"
)


def with_profile(path: Path, profile: Path, calls: int = 2, case: str = TRAIN) -> Path:
    """A bench file of ``case`` whose extra_info names ``profile`` (a tiny dump), kept beside it."""
    data = json.loads(path.read_text())
    relative = write_profiles(path.parent, free_folder_name([path.parent], path.stem, 0),
                              {case: compress_dump(profile)})[case]  # fmt: skip
    for bench in data["benchmarks"]:
        if bench["fullname"] == case:
            bench["extra_info"].update({PROFILE_KEY: relative, CALLS_KEY: calls})
    path.write_text(json.dumps(data))
    return path
