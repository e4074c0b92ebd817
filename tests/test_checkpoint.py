import pytest
import torch
import torch.nn as nn

from linreg.errors import CheckpointError
from linreg.results.checkpoint import load_checkpoint, load_model, save_checkpoint
from linreg.state import state_dict_hash, state_from_json, state_to_json


class TutorialLrModel(nn.Module):  # written exactly as the tutorial writes it
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(in_features=1, out_features=1)

    def forward(self, x):
        return self.linear(x)


@pytest.fixture
def saved(tmp_path, tutorial_run):
    state = state_from_json(tutorial_run.final_state)
    return save_checkpoint(state, tmp_path / "model.pth"), tutorial_run


def test_round_trip_keeps_the_content_hash(saved):
    path, run = saved
    assert state_dict_hash(load_checkpoint(path)) == run.state_hash
    assert state_dict_hash(load_model(path).state_dict()) == run.state_hash


def test_the_tutorials_own_loading_code_reads_it(saved):
    path, run = saved
    loaded_model = TutorialLrModel()
    loaded_model.load_state_dict(torch.load(path, weights_only=True))
    assert loaded_model.linear.weight.item() == run.final_weight
    assert loaded_model.linear.bias.item() == run.final_bias


def test_state_json_round_trip_is_exact_for_every_dtype():
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        state = {
            "linear.weight": torch.tensor([[0.1234567]], dtype=dtype),
            "linear.bias": torch.tensor([-3.3e-3], dtype=dtype),
        }
        back = state_from_json(state_to_json(state))
        assert state_dict_hash(back) == state_dict_hash(state)


def test_hash_sees_one_ulp():
    state = {"w": torch.tensor([1.0])}
    moved = {"w": torch.nextafter(torch.tensor([1.0]), torch.tensor([2.0]))}
    assert state_dict_hash(state) != state_dict_hash(moved)


def test_hash_sees_dtype_and_shape():
    assert state_dict_hash({"w": torch.zeros(2)}) != state_dict_hash({"w": torch.zeros(1, 2)})
    assert state_dict_hash({"w": torch.zeros(2)}) != state_dict_hash({"w": torch.zeros(2).double()})


def test_missing_checkpoint_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pth: no such file"):
        load_checkpoint(tmp_path / "nope.pth")


def test_truncated_checkpoint_is_refused(saved, tmp_path):
    path, _ = saved
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"cut\.pth: truncated or corrupt"):
        load_checkpoint(cut)


def test_text_file_is_refused(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pth: not a torch checkpoint"):
        load_checkpoint(junk)


def test_pickled_module_is_refused_by_weights_only(tmp_path):
    path = tmp_path / "module.pth"
    torch.save(nn.Linear(1, 1), path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_checkpoint(path)


def test_foreign_object_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not a state_dict"):
        load_checkpoint(path)


def test_key_mismatch_is_refused(tmp_path):
    path = save_checkpoint(
        {"fc.weight": torch.zeros(1, 1), "fc.bias": torch.zeros(1)}, tmp_path / "keys.pth"
    )
    with pytest.raises(CheckpointError, match="keys do not match LrModel"):
        load_model(path)


def test_shape_mismatch_is_refused(tmp_path):
    path = save_checkpoint(
        {"linear.weight": torch.zeros(2, 1), "linear.bias": torch.zeros(2)}, tmp_path / "shape.pth"
    )
    with pytest.raises(
        CheckpointError, match=r"linear\.weight has shape \(2, 1\), LrModel expects \(1, 1\)"
    ):
        load_model(path)


def test_save_leaves_no_temporary_files(saved):
    path, _ = saved
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pth"]
