"""Classical codecs; importing this package registers them."""

from ratecraft.codecs.classical import flac, general, pca, predictive, quant, sz3, wavelet  # noqa: F401
