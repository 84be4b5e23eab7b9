"""Classical codecs: lossless (``predictive``, ``flac``, ``zstd``, ``lzma``) and lossy (``quant``,
``wavelet``, ``pca``, ``sz3``). Each module registers its codec when imported; the registry
(:mod:`ratecraft.codecs.catalog`) imports a module only when its codec is first asked for.
"""
