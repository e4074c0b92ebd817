"""Every record that crosses a layer is one typed value, loaded once from its file: the files
committed under results/ and records written by the linreg before these types (schema 2 speed
verdicts, schema 1 job records, A/B results, checks) load into their types, say what they said
then, and survive a round trip through their own ``to_dict``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from linreg.report.speed_words import notes, summary
from linreg.results import kinds
from linreg.results.ab_result import AbResult
from linreg.results.bench_file import BenchFile
from linreg.results.job_steps import FAILED, OK, JobRecord
from linreg.results.load import load_result
from linreg.results.repro_checks import ReproChecks
from linreg.results.speed_verdict import SpeedVerdict
from linreg.run import Run

ROOT = Path(__file__).resolve().parent.parent
RECORDS = Path(__file__).parent / "data" / "records"
TYPES = {
    kinds.BENCH: BenchFile,
    kinds.RUN: Run,
    kinds.SPEED_VERDICT: SpeedVerdict,
    kinds.AB: AbResult,
    kinds.MAIN_JOB: JobRecord,
    kinds.REPRO_CHECKS: ReproChecks,
}


def committed_result_files() -> list[Path]:
    """The JSON files git tracks under results/ (a checkout's own runs there are not committed)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "results"], capture_output=True,
                            text=True, check=True).stdout.split()  # fmt: skip
    return sorted(ROOT / name for name in listed if name.endswith(".json"))


@pytest.mark.parametrize("path", committed_result_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_committed_result_file_loads_into_its_type(path):
    loaded = load_result(path)
    assert loaded is not None and isinstance(loaded.value, TYPES[loaded.kind]), path


@pytest.mark.parametrize("path", sorted(RECORDS.glob("*.json")), ids=lambda p: p.name)
def test_an_older_record_loads_into_its_type_and_round_trips(path):
    loaded = load_result(path)
    assert loaded is not None and isinstance(loaded.value, TYPES[loaded.kind])
    record = loaded.value
    again = type(record).from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record


@pytest.mark.parametrize("name", ["speed-verdict-v2-gate.json", "speed-verdict-v2-ab.json"])
def test_an_older_speed_verdict_says_what_it_said_when_it_was_written(name):
    stored = json.loads((RECORDS / name).read_text())
    verdict = load_result(RECORDS / name).value
    said = stored["summary"]
    if said.startswith("no regression in 3 cases: instructions within 3%"):
        # Said now as what each metric earned (linreg.report.speed_words.earned): the same finding.
        key = said.rsplit("(stack ", 1)[1].rstrip(")")
        said = f"instructions: no change beyond 3 % in 3 cases, against the baseline of stack {key}"
    assert summary(verdict) == said
    assert notes(verdict) == stored["notes"]
    assert verdict.verdict == stored["verdict"]
    assert [c.outcome for c in verdict.cases] == [c["outcome"] for c in stored["cases"]]


def test_an_older_job_record_reads_each_step_as_held_or_failed():
    stored = json.loads((RECORDS / "job-v1.json").read_text())
    job = load_result(RECORDS / "job-v1.json").value
    assert [s.name for s in job.steps] == [s["name"] for s in stored["steps"]]
    assert [s.status for s in job.steps] == [OK if s["ok"] else FAILED for s in stored["steps"]]


def test_an_ab_results_speed_verdict_is_the_one_beside_it():
    ab = load_result(RECORDS / "ab-v1.json").value
    beside = load_result(RECORDS / "speed-verdict-v2-ab.json").value
    assert ab.speed == beside
    assert ab.numeric.verdict == "a" and all(p.level == "a" for p in ab.numeric.pairs)


def test_checks_of_two_dtypes_keep_their_comparisons_and_explanations():
    stored = json.loads((RECORDS / "checks-v2-dtypes.json").read_text())
    checks = load_result(RECORDS / "checks-v2-dtypes.json").value
    assert [c.holds for c in checks.checks] == [c["holds"] for c in stored["checks"]]
    failing = [c for c in checks.checks if not c.holds]
    assert failing and all(c.comparison is not None for c in failing)
    explained = [c for c in checks.checks if c.explanation is not None]
    assert explained and all(c.explanation.line for c in explained)
    assert [c.explanation.line for c in explained] == [
        c["explanation"]["line"] for c in stored["checks"] if c.get("explanation")
    ]
