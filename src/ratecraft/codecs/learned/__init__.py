"""Learned codecs; importing this package registers them.

Feature tables: ``adaptive-bottleneck`` and ``grouped-vae`` (:mod:`.bottleneck`) and ``vqvae``
(:mod:`.vqvae`), built on :class:`~ratecraft.codecs.learned.table_codec.LearnedTableCodec`.
Recordings: ``conv-ae``, ``lstm-ae``, ``transformer``, ``spatial`` (:mod:`.recording_codecs`)
and ``vae`` (:mod:`.recording_vae`), built on
:class:`~ratecraft.codecs.learned.recording_codec.LearnedRecordingCodec`.
"""

from ratecraft.codecs.learned import (  # noqa: F401  (registers on import)
    bottleneck,
    recording_codecs,
    recording_vae,
    spike_lfp,
    vqvae,
)
from ratecraft.codecs.learned.recording_codec import LearnedRecordingCodec, LearnedRecordingConfig
from ratecraft.codecs.learned.table_codec import LearnedTableCodec, LearnedTableConfig

__all__ = [
    "LearnedRecordingCodec",
    "LearnedRecordingConfig",
    "LearnedTableCodec",
    "LearnedTableConfig",
]
