"""Instruction baselines keyed by stack: the lookup, the store, and the committed ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from linreg.errors import ResultSetError
from linreg.results.instruction_baselines import (
    instruction_baselines,
    newest_instruction_baseline,
    store_instruction_baselines,
)
from linreg.stack import stack_key
from tests.instruction_files import HOST_A, HOST_B, KEY, PYTEST_ID, STACK, TRAIN, bench_json

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_baselines_are_filed_under_their_own_stack_keys():
    root = REPO_ROOT / "results" / "baselines" / "instructions"
    keys = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    assert keys, "no committed instruction baseline"
    for key in keys:
        sessions = instruction_baselines(key, root)  # refuses a file of another stack
        assert sessions and all(
            f.path.stat().st_size < 1_000_000 for s in sessions for f in s.files
        )


def test_the_lookup_takes_the_newest_session_of_the_key_and_nothing_of_another(tmp_path):
    root = tmp_path / "instructions"
    folder = root / KEY / PYTEST_ID
    bench_json(folder / "0001_a.json", {TRAIN: 3.3e8}, {**STACK, **HOST_A}, session="old",
               when="2026-11-28T10:00:00")  # fmt: skip
    bench_json(folder / "0002_b.json", {TRAIN: 3.4e8}, {**STACK, **HOST_B}, machine="other",
               session="new", when="2026-11-29T10:00:00")  # fmt: skip
    # Newer, but without counts: not a baseline of instructions.
    bench_json(folder / "0003_c.json", {TRAIN: None}, {**STACK, **HOST_A}, session="newest",
               when="2026-11-30T10:00:00", counted="not counted: valgrind not found")  # fmt: skip
    other = {**STACK, "torch_cpu_capability": "AVX2"}
    bench_json(root / stack_key(other) / PYTEST_ID / "0001_d.json", {TRAIN: 3.0e8}, other,
               session="avx2", when="2026-12-01T10:00:00")  # fmt: skip
    newest = newest_instruction_baseline(KEY, root)
    assert newest is not None and newest.session == "new" and newest.machine == "other"
    assert [s.session for s in instruction_baselines(KEY, root)] == ["old", "new"]
    assert newest_instruction_baseline("torch-9.9.9-none", root) is None


def test_a_file_of_another_stack_under_a_key_is_refused_by_name(tmp_path):
    root = tmp_path / "instructions"
    other = {**STACK, "python": "3.12.7"}
    misplaced = bench_json(root / KEY / PYTEST_ID / "0001_x.json", {TRAIN: 3e8}, other)
    refused = re.escape(f"{misplaced}: a baseline of stack {stack_key(other)}, filed under {KEY}")
    with pytest.raises(ResultSetError, match=refused):
        newest_instruction_baseline(KEY, root)


def test_storing_files_each_under_its_own_key_numbered_after_the_last(tmp_path):
    root = tmp_path / "instructions"
    run = tmp_path / "run" / "amd-epyc-2c" / PYTEST_ID
    counted = bench_json(run / "0007_abc_20261129.json", {TRAIN: 3.3e8}, {**STACK, **HOST_A})
    avx2 = {**STACK, "torch_cpu_capability": "AVX2"}
    other = bench_json(run / "0008_abc_20261130.json", {TRAIN: 3.1e8}, avx2, session="s2")
    bare = bench_json(run / "0009_abc.json", {TRAIN: None}, {**STACK, **HOST_A}, session="s3")
    first = store_instruction_baselines([counted, other, bare], root)
    assert first == [
        root / KEY / PYTEST_ID / "0001_abc_20261129.json",
        root / stack_key(avx2) / PYTEST_ID / "0001_abc_20261130.json",
    ]
    assert first[0].read_bytes() == counted.read_bytes()  # pytest-benchmark's own file, as is
    [again] = store_instruction_baselines([counted], root)
    assert again == root / KEY / PYTEST_ID / "0002_abc_20261129.json"
