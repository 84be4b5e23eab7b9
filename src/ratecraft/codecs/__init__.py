"""Codecs by name: the contract, the one decode path, the registry and the built-in codecs.

Importing this package imports no codec: each is imported when first asked for by name.
"""

from ratecraft.codecs.base import Codec, CodecConfig, EncodeStats, decode, decode_file
from ratecraft.codecs.budget import Budget
from ratecraft.codecs.registry import (
    available_codecs,
    codec_class,
    default_codecs,
    get_codec,
    register_codec,
)

__all__ = [
    "Budget",
    "Codec",
    "CodecConfig",
    "EncodeStats",
    "available_codecs",
    "codec_class",
    "decode",
    "decode_file",
    "default_codecs",
    "get_codec",
    "register_codec",
]
