"""The registered learned recording codecs: ``conv-ae``, ``lstm-ae``, ``transformer``, ``spatial``.

Each is a :class:`~ratecraft.codecs.learned.recording_codec.LearnedRecordingCodec` with its
own pydantic config (the shared options plus the network's) and network from
:mod:`.recording_models` / :mod:`.recording_transformer`. The ``vae`` codec lives in
:mod:`.recording_vae`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ratecraft.codecs.base import CodecConfig, register_codec
from ratecraft.codecs.learned.recording_codec import LearnedRecordingCodec, LearnedRecordingConfig
from ratecraft.codecs.learned.recording_models import (
    ConvAE,
    LstmAE,
    RecordingModel,
    SpatialAE,
    adjacency_from_correlation,
    adjacency_from_positions,
)
from ratecraft.codecs.learned.recording_transformer import TransformerAE
from ratecraft.data.types import Recording

__all__ = ["ConvAECodec", "LstmAECodec", "SpatialCodec", "TransformerCodec"]

_MAX_CORR_FRAMES = 200_000


def _common(cfg: LearnedRecordingConfig) -> dict:
    return {"stages": cfg.stages, "entropy": cfg.entropy, "hyper_channels": cfg.hyper_channels}


class ConvAEConfig(LearnedRecordingConfig):
    encoder: Literal["conv", "frame"] = Field(
        "conv",
        description="conv: stride-2 convolutions; frame: one frame-rate convolution (faster)",
    )


@register_codec("conv-ae")
class ConvAECodec(LearnedRecordingCodec):
    """1-D convolutional autoencoder (stride-2 encoder, transposed-conv decoder); ``encoder:
    frame`` swaps in a faster frame-rate encoder."""

    config_cls: ClassVar[type[CodecConfig]] = ConvAEConfig
    config: ConvAEConfig

    def _build_model(self, n_channels: int) -> RecordingModel:
        c = self.config
        return ConvAE(
            n_channels,
            c.window,
            c.latent_channels,
            c.hidden,
            c.encoder_hidden,
            c.encoder,
            **_common(c),
        )


class LstmAEConfig(LearnedRecordingConfig):
    heads: int = Field(default=2, ge=1, le=64, description="attention heads over time steps")


@register_codec("lstm-ae")
class LstmAECodec(LearnedRecordingCodec):
    """Bidirectional LSTM with attention over time steps."""

    config_cls: ClassVar[type[CodecConfig]] = LstmAEConfig
    config: LstmAEConfig

    def _build_model(self, n_channels: int) -> RecordingModel:
        c = self.config
        return LstmAE(n_channels, c.window, c.latent_channels, c.hidden, c.heads, **_common(c))


class TransformerConfig(LearnedRecordingConfig):
    heads: int = Field(default=2, ge=1, le=64, description="attention heads per layer")
    layers: int = Field(default=1, ge=1, le=24, description="transformer blocks")
    attention: Literal["auto", "full", "linear"] = Field(
        "auto", description="full softmax, linear (kernelized), or auto: full up to 64 tokens"
    )


@register_codec("transformer")
class TransformerCodec(LearnedRecordingCodec):
    """Patch-token transformer (sinusoidal + learned positions, full or linear attention)."""

    config_cls: ClassVar[type[CodecConfig]] = TransformerConfig
    config: TransformerConfig

    def _build_model(self, n_channels: int) -> RecordingModel:
        c = self.config
        return TransformerAE(
            n_channels,
            c.window,
            c.latent_channels,
            c.hidden,
            heads=c.heads,
            layers=c.layers,
            attention=c.attention,
            **_common(c),
        )


class SpatialConfig(LearnedRecordingConfig):
    hidden: int = Field(default=16, ge=4, le=1024, description="width of the hidden layers")
    neighbours: int = Field(
        default=4, ge=1, le=64, description="electrodes each one is connected to in the graph"
    )
    bits_per_latent: float = Field(
        default=2.0,
        gt=0.0,
        le=16.0,
        allow_inf_nan=False,
        description="bits a latent is expected to cost, to size latent channels from a ratio",
    )
    max_latent_channels: int = Field(
        default=128, ge=1, le=1024, description="most latent channels a ratio budget may choose"
    )


@register_codec("spatial")
class SpatialCodec(LearnedRecordingCodec):
    """Graph convolution over the electrode adjacency (positions, else correlation), then a
    joint projection of all electrodes to the latents."""

    config_cls: ClassVar[type[CodecConfig]] = SpatialConfig
    config: SpatialConfig

    def _build_model(self, n_channels: int) -> RecordingModel:
        c = self.config
        return SpatialAE(n_channels, c.window, c.latent_channels, c.hidden, **_common(c))

    def _prepare_model(self, model: RecordingModel, data: Recording) -> None:
        assert isinstance(model, SpatialAE)
        k = self.config.neighbours
        if data.channel_positions is not None:
            adj = adjacency_from_positions(data.channel_positions, k)
            self.layout["adjacency"] = "positions"
        else:
            adj = adjacency_from_correlation(data.samples[:, :_MAX_CORR_FRAMES], k)
            self.layout["adjacency"] = "correlation"
        model.set_adjacency(adj)
