"""Learned codecs; each module registers its codec when imported (the registry imports a
module only when its codec is first asked for).

Feature tables: ``adaptive-bottleneck`` and ``grouped-vae`` (:mod:`.bottleneck`) and ``vqvae``
(:mod:`.vqvae`), built on :class:`~ratecraft.codecs.learned.table_codec.LearnedTableCodec`.
Recordings: ``conv-ae``, ``lstm-ae``, ``transformer``, ``spatial`` (:mod:`.recording_codecs`)
and ``vae`` (:mod:`.recording_vae`), built on
:class:`~ratecraft.codecs.learned.recording_codec.LearnedRecordingCodec`; ``spike-lfp``
(:mod:`.spike_lfp`).
"""
