"""Integer tables: Gaussian scale tables, token tables and the refinement layer code exactly."""

import numpy as np
import pytest

from ratecraft.entropy.refinement import Refinement, error_bound_step
from ratecraft.entropy.tables import ScaleTables, TokenTables
from ratecraft.errors import BadInputError, CorruptStreamError


def test_gaussian_tables_round_trip_with_escapes():
    tables = ScaleTables.build()
    rng = np.random.default_rng(0)
    index = rng.integers(0, len(tables.scales), 3000)
    values = np.rint(rng.normal(0, tables.scales[index])).astype(np.int64)
    values[::97] = 10_000  # far outside every support: escaped, not clamped
    payload, est = tables.compress(values, index)
    assert np.array_equal(tables.decompress(payload, index), values)
    assert est > 0 and len(payload) < values.size * 2
    with pytest.raises(CorruptStreamError):
        tables.decompress(payload[:-8], index)


def test_scale_index_is_monotone():
    tables = ScaleTables.build()
    idx = tables.index(np.array([0.01, 0.5, 1.0, 4.0, 1e6]))
    assert (np.diff(idx) >= 0).all() and idx[0] == 0 and idx[-1] == len(tables.scales) - 1


def test_token_tables_round_trip_and_refuse_out_of_range_tokens():
    rng = np.random.default_rng(0)
    streams = [rng.integers(0, 8, 500), rng.integers(0, 3, 500)]
    tables = TokenTables.fit(streams, [8, 3])
    blob, est = tables.compress(streams)
    back = tables.decompress(blob, 500)
    assert all(np.array_equal(a, b) for a, b in zip(back, streams, strict=True))
    assert est == pytest.approx(tables.estimated_bits(streams)) and 8 * len(blob) < 500 * 5
    with pytest.raises(BadInputError, match="codebook"):
        tables.compress([np.array([8]), np.array([0])])


@pytest.mark.parametrize("bound", [0.0, 1.0, 3.7])
def test_refinement_holds_an_integer_error_bound(bound):
    rng = np.random.default_rng(1)
    x = rng.integers(-500, 500, (3, 700))
    recon = x + rng.integers(-60, 60, x.shape)
    layer = Refinement(error_bound_step(bound, integer=True))
    q = layer.quantize(x - recon)
    blob, _ = layer.compress(q)
    out = recon + layer.dequantize(layer.decompress(blob, 3, 700))
    assert np.abs(out - x).max() <= np.floor(bound)


def test_refinement_costs_little_where_nothing_is_missed():
    layer = Refinement(9.0)
    near = np.zeros((4, 4096))
    near[0, 100] = 50.0
    blob, _ = layer.compress(layer.quantize(near))
    assert len(blob) < 200
    with pytest.raises(BadInputError):
        Refinement(0.0)
    with pytest.raises(CorruptStreamError):
        layer.decompress(blob[:-5], 4, 4096)
