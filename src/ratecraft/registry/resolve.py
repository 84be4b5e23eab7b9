"""One answer to "which model?": a folder, a registry reference, a zoo model, or the model a
container names by content hash.

``--model`` takes a codec folder when such a folder exists, else a reference: ``zoo:NAME``, or
``NAME``, ``NAME@3``, ``NAME@production`` in the registry. A container whose header names a
model (``model_sha256``) and is decoded without ``--model`` finds it in the registry, then in the
zoo; when neither has it the decoder refuses with one line, as before.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ratecraft.bitstream.container import ContainerReader
from ratecraft.codecs.base import Codec
from ratecraft.errors import BadInputError, CorruptStreamError
from ratecraft.registry.backends import open_registry, registry_configured
from ratecraft.registry.names import parse_ref
from ratecraft.registry.protocol import ModelRegistry
from ratecraft.registry.zoo import find_zoo_model, load_zoo

__all__ = ["describe_model_spec", "load_model", "model_for_container"]

log = logging.getLogger(__name__)


def load_model(spec: str | os.PathLike[str], registry: ModelRegistry | None = None) -> Codec:
    """The codec ``spec`` names: an existing codec folder, ``zoo:NAME`` or a registry reference."""
    text = os.fspath(spec)
    if Path(text).is_dir():
        return Codec.load(text)
    if "/" in text or text.startswith("."):
        raise BadInputError(f"{text}: no such model folder")
    ref = parse_ref(text)
    if ref.zoo:
        return load_zoo(ref.name)
    return (registry or open_registry()).load(ref)


def describe_model_spec(spec: str | os.PathLike[str]) -> str:
    text = os.fspath(spec)
    return f"model {text}" if Path(text).is_dir() else f"model {parse_ref(text)}"


def model_for_container(
    path: str | os.PathLike[str], registry: ModelRegistry | None = None
) -> Codec | None:
    """The model a container names, from the registry or the zoo (None when it names none, or
    neither has it: decoding then refuses with its own one-line reason)."""
    try:
        with ContainerReader(Path(path)) as reader:
            sha = reader.header.model_sha256
    except CorruptStreamError:
        return None  # decoding refuses it with its own one-line reason, naming the file
    if sha is None:
        return None
    reg = registry
    if reg is None and registry_configured():  # decoding never creates a registry
        reg = open_registry()
    found = reg.find_model(sha) if reg is not None else []
    if reg is not None and found:
        log.info("the model this file names is %s in the registry", found[0].ref)
        return reg.load(found[0])
    name = find_zoo_model(sha)
    if name is not None:
        log.info("the model this file names is zoo:%s", name)
        return load_zoo(name)
    return None
