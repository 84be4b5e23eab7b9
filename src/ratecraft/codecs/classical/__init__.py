"""Classical codecs; importing this package registers them."""

from ratecraft.codecs.classical import flac, general, predictive, quant  # noqa: F401
