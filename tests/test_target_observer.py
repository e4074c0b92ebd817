"""The step observer sees each step's quantities in the order the step computes them and
changes nothing of the run; the walk over two replays names the first quantity that differs
(same dtype) or leaves the tolerance (two dtypes), whichever step and quantity that is."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from linreg.compare.target_first_difference import first_beyond_tolerance, first_difference
from linreg.engines.target_loop import train_target
from linreg.engines.target_trace import DIGESTS_FILE, TargetTrace, _digest, step_file
from linreg.target_config import TargetConfig
from linreg.target_loading import load_target
from linreg.tolerance import Tolerance


def observed(spec: str, plain: bool = True, **changes):
    """(the run unobserved, or None; the run observed; each step's quantities seen)."""
    target, ref = load_target(spec)
    config = TargetConfig(target=ref, size="ci", threads=1, **changes)
    seen: list[tuple[int, list[str], dict]] = []

    def observe(step, quantities):
        named = quantities.named()
        seen.append(
            (
                step,
                [n for n, _ in named],
                {n: None if t is None else t.detach().clone() for n, t in named},
            )
        )

    unobserved = train_target(config, target) if plain else None
    return unobserved, train_target(config, target, on_step=observe), seen


def test_an_observed_run_is_the_same_run_bit_for_bit():
    plain, watched, seen = observed("cnn")
    assert watched == plain
    assert [step for step, _, _ in seen] == list(range(plain.steps))


def test_quantities_come_in_step_order_named_by_module_path():
    _, run, seen = observed("cnn", plain=False)
    _, order, values = seen[0]
    model = load_target("cnn")[0].model(load_target("cnn")[0].size("ci"))
    parameters = [name for name, _ in model.named_parameters()]
    buffers = [name for name, _ in model.named_buffers()]
    assert order == (
        ["loss"] + [f"grad {n}" for n in parameters] + parameters + [f"buffer {n}" for n in buffers]
    )
    assert float(values["loss"]) == run.train_loss[0]


def test_the_gradients_seen_are_those_backward_left_before_clipping():
    # The transformer clips to a norm of 1; its first step's gradients are larger than that.
    _, _, seen = observed("chargpt", plain=False)
    _, order, values = seen[0]
    norm = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(values[q]) for q in order if q.startswith("grad ")])
    )
    assert float(norm) > load_target("chargpt")[0].clip_grad_norm


def write_trace(
    folder: Path, steps: list[dict[str, torch.Tensor]], keep_from: int = 0
) -> TargetTrace:
    folder.mkdir(parents=True)
    order = list(steps[0])
    for index, values in enumerate(steps):
        if index >= keep_from:
            torch.save(values, step_file(folder, index))
    digests = [[_digest(values[q]) for q in order] for values in steps]
    torch.save(
        {
            "config": {"dtype": str(steps[0][order[0]].dtype).removeprefix("torch.")},
            "order": order,
            "digests": digests,
            "keep_from": keep_from,
        },
        folder / DIGESTS_FILE,
    )
    return TargetTrace.load(folder)


QUANTITIES = ["loss", "grad fc.weight", "grad fc.bias", "fc.weight", "fc.bias"]


def random_steps(seed: int, steps: int, dtype=torch.float32) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [
        {q: torch.randn(1 if q == "loss" else 6, generator=generator).to(dtype) for q in QUANTITIES}
        for _ in range(steps)
    ]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), steps=st.integers(1, 5), data=st.data())
def test_the_first_quantity_whose_bits_differ_is_named_with_its_ulps(seed, steps, data):
    reference = random_steps(seed, steps)
    step = data.draw(st.integers(0, steps - 1))
    quantity = data.draw(st.sampled_from(QUANTITIES))
    ulps = data.draw(st.integers(1, 1000))
    candidate = [dict(values) for values in reference]
    changed = candidate[step][quantity].clone()
    changed.view(torch.int32)[0] += ulps  # that many representable values away
    candidate[step][quantity] = changed
    for later in range(step + 1, steps):  # everything after it parts too, as in a run
        candidate[later] = {q: v + 1 for q, v in candidate[later].items()}
    with tempfile.TemporaryDirectory() as tmp:
        found = first_difference(
            write_trace(Path(tmp) / "c", candidate),
            write_trace(Path(tmp) / "r", reference),
            steps - 1,
        )
    assert (found.kind, found.step, found.quantity, found.ulps) == (
        "first difference",
        step,
        quantity,
        ulps,
    )
    assert found.max_abs == float((changed - reference[step][quantity]).abs().max())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), steps=st.integers(1, 5), data=st.data())
def test_the_first_quantity_beyond_the_tolerance_is_named_not_a_later_larger_one(seed, steps, data):
    tolerance = Tolerance(rtol=1e-3, atol=1e-3)
    reference = random_steps(seed, steps, torch.float64)
    candidate = [{q: v.to(torch.float32) for q, v in values.items()} for values in reference]
    beyond = data.draw(
        st.one_of(st.none(), st.tuples(st.integers(0, steps - 1), st.sampled_from(QUANTITIES)))
    )
    if beyond is not None:
        step, quantity = beyond
        candidate[step][quantity] = candidate[step][quantity] + 0.5  # well past 1e-3
        for later in range(step + 1, steps):  # and later ones further still
            candidate[later] = {q: v + 1.0 for q, v in candidate[later].items()}
    with tempfile.TemporaryDirectory() as tmp:
        found = first_beyond_tolerance(
            write_trace(Path(tmp) / "c", candidate),
            write_trace(Path(tmp) / "r", reference),
            tolerance,
            steps - 1,
        )
    if beyond is None:
        assert found.kind == "within tolerance" and found.max_abs <= found.allowed
    else:
        assert (found.kind, found.step, found.quantity) == ("beyond tolerance", *beyond)
        assert found.max_abs > found.allowed


def test_a_difference_before_the_kept_values_is_named_without_figures(tmp_path):
    reference = random_steps(0, 4)
    candidate = [dict(values) for values in reference]
    candidate[1] = {**candidate[1], "fc.bias": candidate[1]["fc.bias"] * 2}
    found = first_difference(
        write_trace(tmp_path / "c", candidate, keep_from=3),
        write_trace(tmp_path / "r", reference, keep_from=3),
        3,
    )
    assert (found.step, found.quantity, found.ulps) == (1, "fc.bias", None)
    assert "values not kept" in found.line
