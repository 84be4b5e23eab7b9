"""The sample dtypes ratecraft stores (data in memory, container headers and codecs agree)."""

from __future__ import annotations

from typing import Literal, get_args

DtypeName = Literal[
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "float16",
    "float32",
    "float64",
]

SUPPORTED_DTYPES: tuple[str, ...] = get_args(DtypeName)
