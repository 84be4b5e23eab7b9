"""The registry of codecs by name: built-ins declared by import path (nothing is imported to
list them), others registered with :func:`register_codec`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ratecraft.codecs import catalog as _catalog
from ratecraft.errors import UnknownCodecError
from ratecraft.plugins import Registry

if TYPE_CHECKING:
    from ratecraft.codecs.base import Codec, CodecConfig

__all__ = [
    "CODECS",
    "available_codecs",
    "codec_class",
    "default_codecs",
    "get_codec",
    "register_codec",
]

CODECS: Registry[type[Codec]] = Registry("codec", error=UnknownCodecError)


def register_codec(name: str) -> Callable[[type[Codec]], type[Codec]]:
    """Class decorator that registers a codec under ``name``."""
    return CODECS.register(name)


def available_codecs() -> list[str]:
    """Registered codec names (nothing is imported to list them)."""
    return CODECS.names()


def default_codecs() -> list[str]:
    """The codecs ``ratecraft bench`` and the demo run when none are named: those declared
    as quick to fit (no training)."""
    return [
        n for n in CODECS.names() if (e := CODECS.entry(n)) is not None and e.meta.get("default")
    ]


def codec_class(name: str) -> type[Codec]:
    return CODECS.get(name)


def get_codec(name: str, config: CodecConfig | dict[str, Any] | None = None, **kw: Any) -> Codec:
    """An instance of the codec registered as ``name``."""
    return codec_class(name)(config, **kw)


_catalog.declare(CODECS)
