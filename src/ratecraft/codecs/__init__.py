"""Codecs by name: the contract, the one decode path, the registry and the built-in codecs.

Importing this package imports no codec: each is imported when first asked for by name.
"""

from ratecraft.codecs.base import (
    Codec,
    CodecConfig,
    EncodeStats,
    available_codecs,
    codec_class,
    decode,
    decode_file,
    default_codecs,
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
    "codec_class",
    "decode",
    "decode_file",
    "default_codecs",
    "get_codec",
    "register_codec",
]
