"""Codecs by name: the contract, the registry and the built-in codecs."""

from ratecraft.codecs.base import (
    Codec,
    CodecConfig,
    EncodeStats,
    available_codecs,
    decode,
    decode_file,
    get_codec,
    register_codec,
)
from ratecraft.codecs.budget import Budget

__all__ = [
    "Budget",
    "Codec",
    "CodecConfig",
    "EncodeStats",
    "available_codecs",
    "decode",
    "decode_file",
    "get_codec",
    "register_codec",
]
