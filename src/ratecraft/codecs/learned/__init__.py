"""Learned feature-table codecs; importing this package registers them.

``adaptive-bottleneck`` and ``grouped-vae`` (:mod:`.bottleneck`) and ``vqvae`` (:mod:`.vqvae`),
all built on :class:`~ratecraft.codecs.learned.table_codec.LearnedTableCodec`.
"""

from ratecraft.codecs.learned import bottleneck, vqvae  # noqa: F401  (registers on import)
from ratecraft.codecs.learned.table_codec import LearnedTableCodec, LearnedTableConfig

__all__ = ["LearnedTableCodec", "LearnedTableConfig"]
