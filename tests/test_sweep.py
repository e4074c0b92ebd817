import json

import pytest
import torch

from linreg.config import TrainConfig
from linreg.engines import train
from linreg.engines.batched import train_batched
from linreg.engines.members import MemberRuns
from linreg.errors import OutputError, ResultSetError
from linreg.suites.sweep import (
    check_against_band,
    load_sweep,
    quantiles_of_rows,
    run_sweep,
    summarise,
    write_sweep,
)

CONFIG = TrainConfig(epochs=300)


@pytest.fixture(scope="module")
def reference():
    return run_sweep(CONFIG, seeds=range(200))


def test_summary_numbers_match_the_members():
    runs = train_batched(CONFIG, seeds=range(8))
    sweep = summarise(CONFIG, runs, tolerance=0.05)
    weights = torch.tensor([r.final_weight for r in runs], dtype=torch.float64)
    assert sweep.members["weight"] == weights.tolist()
    assert sweep.quantiles["weight"]["q50"] == pytest.approx(float(torch.quantile(weights, 0.5)))
    assert sweep.quantiles["weight"]["q05"] == pytest.approx(float(torch.quantile(weights, 0.05)))
    within = [abs(r.final_weight - 0.8) <= 0.05 and abs(r.final_bias - 0.2) <= 0.05 for r in runs]
    assert sweep.share_within_tolerance == sum(within) / 8
    assert 0 < sum(within) < 8  # the tolerance splits these seeds, so the count is tested
    epoch = 10
    losses = torch.tensor([r.history.train_loss[epoch] for r in runs], dtype=torch.float64)
    assert sweep.band["median"][epoch] == pytest.approx(
        float(torch.quantile(losses, 0.5)), rel=1e-6
    )
    assert sweep.band["p95"][epoch] == pytest.approx(float(torch.quantile(losses, 0.95)), rel=1e-6)
    assert len(sweep.band["p05"]) == CONFIG.epochs


def test_quantiles_are_exact_on_a_known_sample():
    # Five members; torch.quantile's linear interpolation on 5 values puts q25 on the 2nd.
    runs = train_batched(CONFIG.replace(epochs=5), seeds=range(5))
    sweep = summarise(CONFIG, runs)
    ordered = sorted(r.final_bias for r in runs)
    assert sweep.quantiles["bias"]["q25"] == ordered[1]
    assert sweep.quantiles["bias"]["q50"] == ordered[2]
    assert sweep.quantiles["bias"]["q75"] == ordered[3]


@pytest.mark.parametrize("lr", [0.0001, 0.001, 1.0])
def test_a_run_with_a_wrong_learning_rate_leaves_the_band(reference, lr):
    check = check_against_band(train(CONFIG.replace(seed=42, lr=lr)), reference)
    assert not check.inside
    assert check.first_epoch_outside is not None and check.first_epoch_outside > 0
    # Too slow or too jumpy: either way the loss is above the band where it first leaves it.
    assert check.loss > check.high and check.excess == pytest.approx(check.loss - check.high)


def test_ordinary_runs_stay_inside_the_band(reference):
    for seed in (1000, 1001, 1002, 42):
        check = check_against_band(train(CONFIG.replace(seed=seed)), reference)
        assert check.inside, (seed, check)
        assert check.epochs_checked == CONFIG.epochs


def test_without_slack_the_strict_band_flags_the_tails(reference):
    flagged = sum(
        not check_against_band(train(CONFIG.replace(seed=s)), reference, slack=0).inside
        for s in range(1000, 1010)
    )
    assert flagged > 0


def test_sweep_round_trips_through_its_file_and_is_never_overwritten(reference, tmp_path):
    path = write_sweep(reference, tmp_path / "s.json")
    data = json.loads(path.read_text())
    assert data["kind"] == "sweep" and data["schema_version"] == 1
    loaded = load_sweep(path)
    assert loaded.band == reference.band
    assert loaded.quantiles == reference.quantiles
    assert loaded.seeds == tuple(range(200))
    with pytest.raises(OutputError, match="already exists"):
        write_sweep(reference, path)


def test_loading_something_else_is_refused(tmp_path):
    other = tmp_path / "run.json"
    other.write_text('{"kind": "run"}')
    with pytest.raises(ResultSetError, match="not a linreg sweep"):
        load_sweep(other)


def test_a_batch_is_summarised_from_its_tensors_as_from_its_runs(monkeypatch):
    runs = train_batched(CONFIG, seeds=range(12), lrs=[0.01, 0.02])
    from_runs = summarise(CONFIG, list(runs), tolerance=0.05)

    def no_runs(self, k):
        raise AssertionError("a member's Run was built")

    monkeypatch.setattr(MemberRuns, "_build", no_runs)
    assert summarise(CONFIG, runs, tolerance=0.05) == from_runs
    assert from_runs.members["seed"] == [s for s in range(12) for _ in (1, 2)]
    assert from_runs.lrs == (0.01, 0.02)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("members", [1, 2, 5, 100, 1001])
def test_band_quantiles_are_torch_quantiles_exactly(dtype, members):
    generator = torch.Generator().manual_seed(members)
    rows = torch.rand(30, members, generator=generator)
    rows[::2] = (rows[::2] * 4).round() / 4  # ties
    rows = rows.to(dtype)
    qs = (0.05, 0.5, 0.95)
    expected = torch.quantile(rows.double().T, torch.tensor(qs, dtype=torch.float64), dim=0)
    assert torch.equal(quantiles_of_rows(rows, qs), expected)
