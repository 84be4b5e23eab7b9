"""The built-in codecs, declared by import path so none is imported until it is asked for.

``default=True`` marks the codecs that ``ratecraft bench`` and the demo run when no codec is
named: those that fit in a moment (no training). ``extra`` names the extra a codec's module
needs beyond the base install.
"""

from __future__ import annotations

from typing import Any

_CLASSICAL = "ratecraft.codecs.classical"
_LEARNED = "ratecraft.codecs.learned"

BUILTIN: dict[str, tuple[str, dict[str, Any]]] = {
    "predictive": (f"{_CLASSICAL}.predictive:PredictiveCodec", {"default": True}),
    "quant": (f"{_CLASSICAL}.quant:QuantCodec", {"default": True}),
    "flac": (f"{_CLASSICAL}.flac:FlacCodec", {"default": True}),
    "zstd": (f"{_CLASSICAL}.general:ZstdCodec", {"default": True}),
    "lzma": (f"{_CLASSICAL}.general:LzmaCodec", {"default": True}),
    "wavelet": (f"{_CLASSICAL}.wavelet:WaveletCodec", {"default": True}),
    "pca": (f"{_CLASSICAL}.pca:PcaCodec", {"default": True}),
    "columnar": (f"{_CLASSICAL}.columnar:ColumnarCodec", {}),
    "sz3": (f"{_CLASSICAL}.sz3:Sz3Codec", {"default": True, "extra": "baselines"}),
    "spike-lfp": (f"{_LEARNED}.spike_lfp:SpikeLfpCodec", {}),
    "conv-ae": (f"{_LEARNED}.recording_codecs:ConvAECodec", {}),
    "lstm-ae": (f"{_LEARNED}.recording_codecs:LstmAECodec", {}),
    "transformer": (f"{_LEARNED}.recording_codecs:TransformerCodec", {}),
    "spatial": (f"{_LEARNED}.recording_codecs:SpatialCodec", {}),
    "vae": (f"{_LEARNED}.recording_vae:VaeCodec", {}),
    "vqvae": (f"{_LEARNED}.vqvae:VQVAECodec", {}),
    "adaptive-bottleneck": (f"{_LEARNED}.bottleneck:AdaptiveBottleneckCodec", {}),
    "grouped-vae": (f"{_LEARNED}.bottleneck:GroupedVAECodec", {}),
}


def declare(registry: Any) -> None:
    """Declare every built-in codec in ``registry`` (a :class:`~ratecraft.plugins.Registry`)."""
    for name, (target, meta) in BUILTIN.items():
        registry.declare(name, target, **meta)
