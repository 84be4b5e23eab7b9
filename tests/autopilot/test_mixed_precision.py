"""The mixed-precision problem on a tiny seeded Llama: a trial's figures are the real recipe's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("torchao")
pytest.importorskip("transformers")

from ratecraft.autopilot.mixed_precision import MixedPrecisionProblem, mixed_recipe
from ratecraft.shrink.lm.loading import tiny_llama


@pytest.fixture(scope="module")
def problem() -> MixedPrecisionProblem:
    model = tiny_llama(vocab_size=128, hidden_size=64, layers=3, intermediate_size=128, seed=0)
    ids = torch.from_numpy(np.random.default_rng(0).integers(0, 128, 300))
    return MixedPrecisionProblem(model.to(torch.bfloat16), ids, proxy_tokens=96, full_tokens=200)


def _strategy(problem: MixedPrecisionProblem, bits: list[int], emb: int, group: int) -> dict:
    params = {f"block_{i:02d}": b for i, b in enumerate(bits)}
    params.update(embedding_bits=emb, group_size=group)
    return problem.default_space().validate({"method": "mixed", "params": params})


def test_space_has_a_bit_width_per_block_and_recipes_follow_it(problem) -> None:
    space = problem.default_space()
    assert set(space.methods["mixed"]) == {
        "block_00",
        "block_01",
        "block_02",
        "embedding_bits",
        "group_size",
    }
    recipe = mixed_recipe(_strategy(problem, [2, 8, 2], 4, 32), 3)
    steps = [(s.step, s.config.get("bits"), s.config.get("only")) for s in recipe.steps]
    assert steps == [
        ("intx-weight", 2, ["model.layers.0.*", "model.layers.2.*"]),
        ("intx-weight", 8, ["model.layers.1.*"]),
        ("embedding-quant", 4, None),
    ]


def test_trial_figures_equal_the_real_artifact(problem, tmp_path) -> None:
    from safetensors import safe_open

    strategy = _strategy(problem, [3, 8, 2], 4, 32)
    trial = problem.evaluate(strategy, "full")
    facts = problem.save_artifact(strategy, tmp_path / "best")
    real = facts["whole_input"]
    assert real["perplexity"] == pytest.approx(trial["perplexity"], rel=2e-3)
    with safe_open(str(tmp_path / "best" / "model" / "model.safetensors"), "pt") as f:
        names = list(f.keys())
        payload = sum(f.get_tensor(k).numel() * f.get_tensor(k).element_size() for k in names)
    assert payload == trial["size_bytes"]  # the bytes a trial counts are the file's tensors
    assert real["size_bytes"] > payload  # plus the file's headers and description


def test_fewer_bits_mean_fewer_bytes_and_the_float_model_is_untouched(problem) -> None:
    before = {n: t.clone() for n, t in problem.model.state_dict().items()}
    sizes = [
        problem.evaluate(_strategy(problem, [b] * 3, 8, 32), "proxy")["size_bytes"]
        for b in (2, 3, 4, 8)
    ]
    assert sizes == sorted(sizes) and len(set(sizes)) == 4
    for n, t in problem.model.state_dict().items():
        assert torch.equal(t, before[n]), n
    eight = problem.evaluate(_strategy(problem, [8] * 3, 8, 32), "proxy")
    assert abs(eight["perplexity_increase"]) < 0.01
    assert set(eight) <= problem.metric_names()


def test_every_run_starts_from_the_8_bit_point(problem, tmp_path) -> None:
    from ratecraft.autopilot.journal import Journal
    from ratecraft.autopilot.loop import Autopilot, LoopSettings
    from ratecraft.autopilot.proposers import make_proposer

    for proposer in ("random", "tpe"):
        pilot = Autopilot(
            problem,
            problem.default_reward(),
            problem.default_space(),
            Journal.create(tmp_path / proposer, {"request": {"proposer": proposer}}),
            make_proposer(proposer, seed=0, budget=3),
            LoopSettings(trials=3),
        )
        records = pilot.run().records
        first = records[0]
        assert first["origin"] == "initial"
        assert set(first["strategy"]["params"].values()) == {8, 32}
        assert all(r["origin"] != "initial" for r in records[1:])
