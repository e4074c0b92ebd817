import json
import os

import pytest

from linreg.errors import OutputError, ResultSetError
from linreg.results.files import (
    read_json,
    write_file,
    write_json_new,
    write_json_replace,
    write_text_atomic,
)
from linreg.results.walk import result_files


def test_write_json_new_never_overwrites(tmp_path):
    path = write_json_new(tmp_path / "r.json", {"a": 1.0})
    with pytest.raises(OutputError, match="never overwritten"):
        write_json_new(path, {"a": 2.0})
    assert json.loads(path.read_text()) == {"a": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_json_floats_round_trip_exactly(tmp_path):
    values = [0.1, 1 / 3, 0.7645385265350342, 5e-324, 1.7976931348623157e308]
    path = write_json_new(tmp_path / "f.json", {"v": values})
    assert read_json(path)["v"] == values


def test_nan_is_refused_rather_than_written(tmp_path):
    with pytest.raises(ValueError):
        write_json_new(tmp_path / "n.json", {"v": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_written_files_follow_the_umask(tmp_path):
    path = write_text_atomic(tmp_path / "t.html", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), ("{", "not readable JSON"), ("[1]", "JSON object")],
)
def test_unreadable_result_files_are_named(tmp_path, content, message):
    path = tmp_path / "x.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ResultSetError, match=message):
        read_json(path)


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit, RuntimeError])
def test_whatever_stops_a_write_leaves_no_temp_file_and_no_target(tmp_path, stop):
    def half_written(handle):
        handle.write(b'{"half":')
        raise stop()

    with pytest.raises(stop):
        write_file(tmp_path / "r.json", half_written, replace=False)
    assert list(tmp_path.iterdir()) == []


def test_written_results_are_shared_like_any_file(tmp_path):
    mask = os.umask(0o022)
    try:
        new = write_json_new(tmp_path / "new.json", {})
        replaced = write_json_replace(tmp_path / "ref.json", {})
    finally:
        os.umask(mask)
    assert new.stat().st_mode & 0o777 == 0o644 and replaced.stat().st_mode & 0o777 == 0o644


def test_a_fifo_or_a_device_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes
    with pytest.raises(ResultSetError, match="not a regular file"):
        read_json(fifo)
    with pytest.raises(ResultSetError, match="not a regular file"):
        read_json("/dev/zero")  # reading it would never end


def test_the_walker_passes_over_hidden_entries_and_what_is_not_a_regular_file(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_text("{}")
    (tmp_path / ".run.x.partial").mkdir()  # a killed write's staging folder
    (tmp_path / ".run.x.partial" / "run.json").write_text("{half")
    (tmp_path / ".c.json.x.partial").write_text("{half")
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in result_files(tmp_path)] == [
        "a.json",
        "sub/b.json",
    ]


def test_a_huge_integer_is_refused_as_unreadable_json(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"seed": ' + "9" * 5000 + "}")
    with pytest.raises(ResultSetError, match="not readable JSON"):
        read_json(path)


def test_the_walker_follows_linked_folders_once(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "r.json").write_text("{}")
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real" / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert [p.relative_to(tmp_path).as_posix() for p in result_files(tmp_path)] == ["link/r.json"]
