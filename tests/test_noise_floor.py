"""A machine's noise floor: the process spread of one A/A session, and the between-session
spread from several sessions of the same code, as a comparison uses them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from linreg.results.bench_sessions import CaseSamples
from linreg.results.load import load_result
from linreg.results.noise_floor import NoiseFloor, log_sd, session_sd
from tests.test_speed_verdicts import TRAIN, bench_json


@pytest.mark.parametrize(("between", "within"), [(0.05, 0.02), (0.02, 0.05), (0.0, 0.03)])
def test_the_between_session_spread_is_recovered_from_many_sessions(between, within):
    rng = np.random.default_rng(3)
    sessions = [
        np.exp(rng.normal(0, between) + rng.normal(0, within, 8)) * 0.04 for _ in range(400)
    ]
    found = session_sd(sessions)
    assert found == pytest.approx(between, abs=0.006)


def test_one_session_says_nothing_of_the_between_session_spread():
    assert session_sd([[0.04, 0.041, 0.039]]) is None
    assert session_sd([[0.04], [0.05]]) is None  # one process a session: no within part


def test_the_process_spread_is_the_pooled_sd_of_log_times():
    assert log_sd([1.0, np.e]) == pytest.approx(np.sqrt(0.5))
    assert log_sd([1.0]) is None


def test_an_older_noise_floor_without_the_new_fields_still_reads(tmp_path):
    path = tmp_path / "noise.json"
    old = {"schema_version": 1, "kind": "noise-floor", "machine": "m", "processes": 8,
           "wall": {"a": 0.1}, "instructions": {}}  # fmt: skip
    path.write_text(json.dumps(old))
    floor = load_result(path).value
    assert floor.wall == {"a": 0.1} and floor.session_sd == {} and floor.sessions == 1


def test_the_bench_runner_measures_between_sessions_of_the_same_code_only(tmp_path):
    from linreg.suites.bench_runner import _write_noise_floor

    rng = np.random.default_rng(5)
    storage = tmp_path / "m1"

    def session(name, level, day, commit):
        saved = []
        for i in range(8):
            value = 0.04 * np.exp(level + rng.normal(0, 0.01))
            path = bench_json(storage / name / f"{i}.json", {TRAIN: [value] * 3}, session=name,
                              process=i, when=f"2026-11-{day:02d}T00:0{i}:00")  # fmt: skip
            data = json.loads(path.read_text())
            data["machine_info"]["linreg_environment"]["linreg_commit"] = commit
            path.write_text(json.dumps(data))
            saved.append(path)
        return tuple(saved)

    session("a", 0.00, 1, "abc")
    session("b", 0.10, 2, "abc")
    session("other", 0.50, 3, "def")  # another commit: its level is its change, not noise
    saved = session("c", -0.10, 4, "abc")
    written = _write_noise_floor(storage, "m1", "c", saved)
    floor = load_result(written).value
    assert floor.sessions == 3 and floor.processes == 8
    assert floor.session_sd[TRAIN] == pytest.approx(0.1, abs=0.02)
    # What a bound on it needs: the three sessions' mean squares and their degrees of freedom.
    spread = floor.between_sessions[TRAIN]
    assert (spread.sessions, spread.processes, spread.degrees) == (3, 24, 2)
    assert floor.process_sd[TRAIN] == pytest.approx(0.01, abs=0.006)


def test_the_floor_measured_from_samples_keeps_every_case():
    samples = {TRAIN: CaseSamples(TRAIN, (0.04, 0.042, 0.041), (1e6, 1e6, 1.01e6))}
    floor = NoiseFloor.measure("m", samples)
    assert set(floor.wall) == set(floor.process_sd) == set(floor.instructions) == {TRAIN}
    assert floor.session_sd == {}
