"""Codebook health of `vqvae`: pruning plan, dead codes on a survey-like table, round trips."""

from __future__ import annotations

import numpy as np
import pytest

from ratecraft.codecs import Budget, Codec, decode, get_codec
from ratecraft.codecs.learned.codebooks import dead_code_threshold, prune_plan
from ratecraft.codecs.learned.vqvae import VQVAEConfig
from ratecraft.data.synthetic_survey import simulate_survey
from ratecraft.diagnostics import diagnose
from ratecraft.metrics.codebook import dead_code_fraction

FAST = {"train": {"epochs": 4, "batch_size": 128}, "hidden": 16}


@pytest.fixture(scope="module")
def survey():
    return simulate_survey(1500, seed=4)


@pytest.fixture(scope="module")
def fitted(survey):
    return get_codec("vqvae", FAST).fit(survey, Budget(ratio=12))


@pytest.mark.parametrize("seed", range(5))
def test_prune_plan_leaves_no_dead_code(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 300))
    counts = rng.poisson(rng.gamma(0.3, 20.0, size=k))
    counts[rng.random(k) < 0.3] = 0
    kept = prune_plan(counts)
    assert kept.size >= 1 and np.all(np.diff(kept) > 0)
    if counts.sum():
        assert dead_code_fraction(counts[kept]) == 0.0
        assert counts[kept].sum() >= 0.9 * counts.sum()  # dropped codes carry little
    assert set(prune_plan(counts, 0.0)) == set(np.flatnonzero(counts)) or not counts.sum()


def test_dead_code_threshold_is_a_share_of_the_fair_count():
    assert dead_code_threshold(0.1, 128, 256) == pytest.approx(0.05)


def test_dead_codes_at_most_five_percent_on_the_survey_table(fitted, survey):
    report = fitted.fit_report
    assert report["dead_codes"] <= 0.05
    health = report["codebook_health"]
    assert health["after_pruning"]["codes"] <= health["before_pruning"]["codes"]
    diag = diagnose(fitted, survey)
    assert diag["max_dead_fraction"] <= 0.05
    assert report["grouping"] == "cluster" and len(report["groups"]) > 1


def test_pruned_model_round_trips_and_reloads(fitted, survey, tmp_path):
    blob = fitted.encode(survey)
    own = fitted.reconstruct(survey).values
    assert np.array_equal(fitted.decode(blob).values, own)
    fitted.save(tmp_path / "m")
    again = Codec.load(tmp_path / "m")
    assert again.codebook_sizes() == fitted.codebook_sizes()
    assert again.model_sha256() == fitted.model_sha256()
    assert np.array_equal(decode(blob, again).values, own)


def test_saved_configs_without_the_new_options_read_them_as_off():
    full = VQVAEConfig().model_dump(mode="json")
    assert full["prune_codes"] is True and full["codebook_init"] == "table"
    old = {k: v for k, v in full.items() if k not in VQVAEConfig.neutral}
    cfg = VQVAEConfig.model_validate(old)
    assert not cfg.prune_codes and cfg.codebook_init == "batch" and cfg.dead_code_share is None
    assert cfg.model_dump(mode="json") == old  # byte for byte what it was
    assert VQVAEConfig.model_validate({"bits": 12.0}).prune_codes  # a partial config: defaults
