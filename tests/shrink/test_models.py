"""Model builders and codec-encoder views: the shrinkable encoder is the encoder alone."""

from __future__ import annotations

import pytest
import torch

from ratecraft.errors import BadInputError
from ratecraft.shrink import get_step
from ratecraft.shrink.measure import parameter_count
from ratecraft.shrink.models import analysis_view, build_model


def test_recording_encoder_view_keeps_only_the_analysis_path():
    from ratecraft.codecs.learned.recording_models import ConvAE

    torch.manual_seed(0)
    model = ConvAE(4, 64, 4, hidden=8, encoder_hidden=4).eval()
    view = analysis_view(model)
    assert set(view._modules) == {"encoder", "linear_enc"}
    assert parameter_count(view) < parameter_count(model)
    x = torch.randn(2, 4, 64)
    with torch.no_grad():
        assert torch.equal(view(x), model.analysis(x))
    pruned = get_step("prune-magnitude")(view, {"sparsity": 0.5, "conv": True})
    assert float((pruned.linear_enc.weight == 0).float().mean()) == pytest.approx(0.5, abs=0.05)
    assert model.decoder is not None  # the original model is untouched


@pytest.mark.parametrize("spec", [{"builder": "cnn", "channels": [4, 8]},
                                  {"builder": "tiny-transformer", "layers": 1}])  # fmt: skip
def test_builders_make_runnable_models(spec):
    model = build_model(spec)
    x = torch.randn(2, 1, 8, 8) if spec["builder"] == "cnn" else torch.randint(0, 64, (2, 5))
    assert model(x).shape[0] == 2


def test_builder_argument_errors_are_bad_input():
    with pytest.raises(BadInputError, match="builder"):
        build_model({"sizes": [2, 3]})
    with pytest.raises(BadInputError, match="tiny-transformer"):
        build_model({"builder": "tiny-transformer", "depth": 3})
    with pytest.raises(BadInputError, match=r"codec\.json"):
        build_model({"builder": "codec-encoder", "source": "/nonexistent"})
