"""The counting worker switches callgrind's instrumentation on from inside its own process
(Valgrind's client request) and falls back to `callgrind_control -i on`: either way what runs
after the switch is counted, and nothing is counted without it.

A small Python process under Valgrind, no torch: it toggles collection on and off around a loop
with the same kind of request and exits; callgrind's totals say whether the loop was counted."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench_modules import BENCH, bench_on_path

TOGGLE_COLLECT = 0x43540002  # callgrind.h: VG_USERREQ_TOOL_BASE('C','T') + 2

SCRIPT = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(BENCH)!r})
import instructions

how = sys.argv[1]
out = Path(sys.argv[2])
request = instructions._client_request()
print("running on valgrind:", request(instructions.RUNNING_ON_VALGRIND))
if how == "fallback":
    instructions._client_request = lambda: None  # as on a machine that cannot issue it
if how != "off":
    print("switched by:", instructions.start_instrumentation(out))
request({TOGGLE_COLLECT})
total = sum(i * i for i in range(20000))
request({TOGGLE_COLLECT})
"""


@pytest.fixture(scope="module")
def instructions():
    """bench/instructions.py (bench/ is not a package)."""
    with bench_on_path():
        import instructions

        yield instructions


def test_outside_valgrind_the_request_is_a_no_op_that_answers_zero(instructions):
    request = instructions._client_request()
    if request is None:
        pytest.skip("not x86-64 Linux: the worker uses callgrind_control")
    assert request(instructions.RUNNING_ON_VALGRIND) == 0
    assert request(instructions.CALLGRIND_START_INSTRUMENTATION) == 0  # and the process goes on


def counted_under_valgrind(how: str, folder: Path, vgdb_prefix: str) -> tuple[int, str]:
    """Instructions callgrind collected in SCRIPT, and what SCRIPT printed."""
    script = folder / "switch.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
         f"--callgrind-out-file={folder}/callgrind.out", f"--vgdb-prefix={folder / vgdb_prefix}",
         sys.executable, "-s", str(script), how, str(folder)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    totals = re.search(r"^totals:\s+(\d+)", (folder / "callgrind.out").read_text(), re.MULTILINE)
    return (int(totals.group(1)) if totals else 0), done.stdout


@pytest.mark.skipif(
    shutil.which("valgrind") is None or shutil.which("callgrind_control") is None,
    reason="valgrind (callgrind, callgrind_control) not installed",
)
@pytest.mark.parametrize(
    ("how", "switched_by"),
    [("request", "client request"), ("fallback", "callgrind_control"), ("off", None)],
)
def test_what_runs_after_the_switch_is_counted_and_nothing_without_it(
    instructions, tmp_path, how, switched_by
):
    if how == "request" and instructions._client_request() is None:
        pytest.skip("not x86-64 Linux: the worker uses callgrind_control")
    counted, printed = counted_under_valgrind(how, tmp_path, instructions.VGDB_PREFIX)
    assert "running on valgrind: 1" in printed
    if switched_by is None:
        assert counted == 0, "counted with instrumentation off: the test's loop proves nothing"
    else:
        assert f"switched by: {switched_by}" in printed
        # 20,000 iterations of a generator and a multiply: far more than a million instructions.
        assert counted > 1_000_000, counted
