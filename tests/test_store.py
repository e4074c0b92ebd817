import json
import os

import pytest

from linreg.errors import OutputError, ResultSetError
from linreg.store import read_json, write_json_new, write_text_atomic


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
