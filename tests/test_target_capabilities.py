"""--target on bisect and history: a target case named by its id (which holds the code hash),
and the series of two versions of a target kept apart and said so."""

from __future__ import annotations

import pytest

from linreg.compare.target_versions import align_versions, version_notes, versionless
from linreg.errors import ConfigError
from linreg.suites.bisect import parse_case
from linreg.target_loading import load_target

OLD = "bench_target.py::bench_target_step[mlp-aaaaaaaaaaaa-ci-cpu-float32-seed42-eager]"
NEW = "bench_target.py::bench_target_step[mlp-bbbbbbbbbbbb-ci-cpu-float32-seed42-eager]"


def test_a_target_case_id_without_its_hash_is_the_same_for_every_version():
    assert versionless(OLD)[0] == versionless(NEW)[0]
    assert (versionless(OLD)[1], versionless(NEW)[1]) == ("aaaaaaaaaaaa", "bbbbbbbbbbbb")
    assert versionless("bench_train.py::bench_train[cpu-float32-seed42-eager]") is None


def test_two_versions_of_a_target_are_two_series_said_on_the_history_site():
    (note,) = version_notes([OLD, NEW, "bench_train.py::bench_train[cpu-float32-seed42-eager]"])
    assert "target mlp ran as 2 versions" in note and "new hash starts a new series" in note
    assert version_notes([OLD]) == []


def test_bisect_reads_a_target_case_and_refuses_another_versions():
    _, ref = load_target("mlp")
    bare = parse_case("target_step", "mlp")
    full = f"bench_target.py::bench_target_step[mlp-{ref.short_hash}-ci-cpu-float32-seed42-eager]"
    assert bare.case_id == full and bare.spec["code_hash"] == ref.code_hash
    assert parse_case(full, "mlp").spec == bare.spec
    with pytest.raises(ConfigError, match="not a case of mlp at code hash"):
        parse_case("target_step[mlp-000000000000-ci-cpu-float32-seed42-eager]", "mlp")
    with pytest.raises(ConfigError, match="give --target too"):
        parse_case(full)


def test_align_versions_leaves_sessions_of_one_version_alone():
    from linreg.results.bench_file import BenchCase, BenchFile
    from linreg.results.bench_sessions import BenchSession

    def session(name: str) -> BenchSession:
        case = BenchCase(name.split("::")[1], name, {}, (0.1,), {"target": "mlp"})
        return BenchSession("m", "s", (BenchFile(None, {}, (case,)),))  # type: ignore[arg-type]

    same, notes = align_versions(session(OLD), session(OLD))
    assert notes == () and same == session(OLD)
    aligned, notes = align_versions(session(OLD), session(NEW))
    assert [c.fullname for c in aligned.files[0].cases] == [OLD]
    assert (
        notes
        and "another version of the target mlp (code hash aaaaaaaaaaaa → bbbbbbbbbbbb)" in notes[0]
    )
