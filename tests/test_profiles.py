"""Callgrind profiles kept with a result set: written beside a bench file, named by a path
relative to it, copied with the stack baseline, passed over by the walker, and read by
callgrind_annotate into a function table (tests/data/profiles/ holds tiny dumps)."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

from linreg.results.instruction_baselines import store_instruction_baselines
from linreg.results.load import load_bench
from linreg.results.profiles import (
    PROFILE_KEY,
    ProfileError,
    case_profile,
    compress_dump,
    free_folder_name,
    parse_annotate,
    profile_file_name,
    read_profile,
    write_profiles,
)
from linreg.results.walk import result_files
from tests.instruction_files import HOST_A, PYTEST_ID, STACK, TRAIN, bench_json
from tests.profile_files import PROFILES, needs_annotate, with_profile

# callgrind_annotate 3.19's output, cut to what is read.
ANNOTATED = """\
--------------------------------------------------------------------------------
Profile data file 'callgrind.out' (creator: callgrind-3.19.0)
--------------------------------------------------------------------------------
Events recorded:  Ir
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
12,500  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir      file:function
--------------------------------------------------------------------------------
12,500  ???:0x0000000000001000 [/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2]
 9,000  ???:at::native::exp(at::Tensor const&) [/venv/torch/lib/libtorch_cpu.so]
 3,500  ./malloc/./malloc/malloc.c:malloc [/usr/lib/x86_64-linux-gnu/libc.so.6]

--------------------------------------------------------------------------------
-- Auto-annotated source: ./malloc/./malloc/malloc.c
"""


# --- reading callgrind_annotate's output --------------------------------------------------------


def test_the_annotated_table_gives_the_total_and_every_function_but_the_top_frames():
    total, functions = parse_annotate(ANNOTATED)
    assert total == 12_500
    # The frame that holds the whole total is the dump's own top, no function's work.
    assert functions == (
        (9_000, "???:at::native::exp(at::Tensor const&) [/venv/torch/lib/libtorch_cpu.so]"),
        (3_500, "./malloc/./malloc/malloc.c:malloc [/usr/lib/x86_64-linux-gnu/libc.so.6]"),
    )


@pytest.mark.parametrize("text", ["", "Ir  file:function\n1  a:b\n", "12  PROGRAM TOTALS\n"])
def test_output_without_a_total_and_a_function_table_is_refused(text):
    with pytest.raises(ValueError, match="no PROGRAM TOTALS and function table"):
        parse_annotate(text)


@needs_annotate
def test_a_kept_profile_is_read_by_callgrind_annotate_inclusive_and_exclusive(tmp_path):
    path = tmp_path / "reference.callgrind.gz"
    path.write_bytes(compress_dump(PROFILES / "reference.callgrind"))
    read = read_profile(path, calls=2)
    assert (read.total, read.calls) == (10_000, 2)
    inclusive = {fn.split(" [")[0]: c for c, fn in read.inclusive}
    exclusive = {fn.split(" [")[0]: c for c, fn in read.exclusive}
    mul = "???:at::_ops::mul::call(at::Tensor const&, at::Tensor const&)"
    assert (inclusive[mul], exclusive[mul]) == (6_000, 2_000)


@needs_annotate
@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not gzip", "not a readable gzip file"),
        # mtime=0: a gzip header holds a time, and pytest-xdist's workers must collect one id.
        (gzip.compress(b"junk", mtime=0), "callgrind_annotate"),
    ],
    ids=["not-gzip", "gzip-of-junk"],
)
def test_a_profile_that_is_not_one_is_refused_by_name(tmp_path, content, match):
    path = tmp_path / "bad.callgrind.gz"
    path.write_bytes(content)
    with pytest.raises(ProfileError, match=match) as caught:
        read_profile(path, 1)
    assert str(path) in str(caught.value)


def test_without_callgrind_annotate_reading_says_which_tool_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ProfileError, match="callgrind_annotate not found"):
        read_profile(tmp_path / "any.callgrind.gz", 1)


# --- kept with the result set -------------------------------------------------------------------


def test_profiles_lie_beside_the_json_named_by_a_relative_path_and_the_walker_passes_them(
    tmp_path,
):
    folder = tmp_path / "machine" / PYTEST_ID
    bench_json(folder / "0001_a.json", {TRAIN: 3.3e8}, {**STACK, **HOST_A})
    name = free_folder_name([folder], "20261204T215226611352Z", 0)
    assert name == "callgrind-20261204T215226611352Z-p0"
    written = write_profiles(folder, name, {TRAIN: b"zipped"})
    assert written == {TRAIN: f"{name}/{profile_file_name(TRAIN)}"}
    assert profile_file_name(TRAIN) == "bench_train-cpu-float32-seed42-eager.callgrind.gz"
    assert free_folder_name([folder], "20261204T215226611352Z", 0) == f"{name}-2"
    assert list(result_files(tmp_path)) == [folder / "0001_a.json"]


@pytest.mark.parametrize("named", ["/etc/passwd", "../outside.callgrind.gz", 7])
def test_a_profile_named_outside_the_files_folder_is_refused(tmp_path, named):
    path = bench_json(tmp_path / "0001_a.json", {TRAIN: 3.3e8}, {**STACK, **HOST_A})
    data = json.loads(path.read_text())
    data["benchmarks"][0]["extra_info"][PROFILE_KEY] = named
    path.write_text(json.dumps(data))
    file = load_bench(path)
    with pytest.raises(ProfileError, match="not a path inside the file's folder"):
        case_profile(path, file.cases[0])


def test_the_stack_baseline_copy_carries_the_profiles_its_cases_name(tmp_path):
    source = with_profile(
        bench_json(tmp_path / "bench" / PYTEST_ID / "0003_x.json", {TRAIN: 3.3e8},
                   {**STACK, **HOST_A}),
        PROFILES / "reference.callgrind",
    )  # fmt: skip
    [stored] = store_instruction_baselines([source], tmp_path / "instructions")
    assert stored.name == "0001_x.json"
    found = case_profile(stored, load_bench(stored).cases[0])
    assert found is not None and found[1] == 2
    assert gzip.decompress(found[0].read_bytes()) == (PROFILES / "reference.callgrind").read_bytes()
