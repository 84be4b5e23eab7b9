"""diagnose(): per-category table, codebook columns, semantic check, markdown."""

import numpy as np
import pytest

from ratecraft.codecs import get_codec
from ratecraft.data.synthetic_table import simulate_table
from ratecraft.diagnostics import diagnose, markdown
from ratecraft.diagnostics.plots import plot_diagnostics
from ratecraft.errors import BadInputError


@pytest.fixture(scope="module")
def table():
    return simulate_table(n_samples=200, seed=5)


def test_diagnose_vqvae_with_semantic_check(table, tmp_path):
    codec = get_codec("vqvae", {"train": {"epochs": 3}, "hidden": 16}).fit(table)
    target = (table.values[:, 0] > np.median(table.values[:, 0])).astype(int)
    d = diagnose(codec, table, target=target)
    assert [r["category"] for r in d["categories"]] == ["initial", "summary", "temporal"]
    errors = [r["mse_normalized"] for r in d["categories"]]
    assert min(errors) > 0
    for r in d["categories"]:
        assert r["relative_to_best"] == pytest.approx(r["mse_normalized"] / min(errors))
        assert len(r["codebooks"]) == 3 and r["latent_dims"] >= 1
    assert d["worst_best_error_ratio"] == pytest.approx(max(errors) / min(errors))
    assert 0 < d["min_codebook_utilization"] <= 1
    values = table.n_samples * table.n_features  # bits per stored value, as encode reports
    assert d["bits_per_sample"] == pytest.approx(8 * d["container_bytes"] / values)
    sem = d["semantic"]
    assert sem["metric"] == "accuracy" and set(sem["groups"]) == {"initial", "summary", "temporal"}
    text = markdown(d)
    assert "| temporal |" in text and "Semantic preservation" in text
    assert "summary_07" in d["dropped_features"]
    png = plot_diagnostics(d, tmp_path / "diag.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_diagnose_bottleneck_regression(table):
    codec = get_codec("grouped-vae", {"train": {"epochs": 2}, "hidden": 16}).fit(table)
    d = diagnose(codec, table, target=np.nan_to_num(table.values[:, 40]) + 0.5)
    assert d["semantic"]["metric"] == "r2" and d["min_codebook_utilization"] is None
    # bits per stored value (cell), not per row
    assert d["bits_per_sample"] == pytest.approx(8 * d["container_bytes"] / table.values.size)
    assert "—" in markdown(d)


def test_plot_needs_categories(tmp_path):
    with pytest.raises(BadInputError, match="no categories"):
        plot_diagnostics({"categories": []}, tmp_path / "x.png")


def test_diagnose_needs_a_fitted_codec(table):
    with pytest.raises(BadInputError):
        diagnose(get_codec("vqvae"), table)
