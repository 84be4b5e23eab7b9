"""The entropy layer: integer symbol models and what codes with them.

Every coded symbol in ratecraft goes through constriction's ANS coder
(:mod:`ratecraft.bitstream.ans`) under an integer count table, so decoding is bit-exact on every
platform. The models, shaped after CompressAI's ``EntropyModel``:

- :mod:`.tables` (NumPy): the integer tables themselves — per-channel count tables with an
  escape symbol (:class:`~.tables.CountTables`), Gaussian tables over a scale grid
  (:class:`~.tables.ScaleTables`) and token tables (:class:`~.tables.TokenTables`);
- :mod:`.scale_context` (NumPy): forward-adaptive scale-context coding of integer residuals,
  the workhorse of the classical codecs;
- :mod:`.refinement` (NumPy): a uniform residual refinement layer on top of any reconstruction
  (the learned table codecs' refinement and the VAE's error-bound layer);
- :mod:`.factorized`, :mod:`.gaussian`, :mod:`.categorical`, :mod:`.latent` (PyTorch): learned
  densities — a factorized bottleneck, a Gaussian conditional with a scale table, categorical
  token frequencies, and the recording latents' factorized or hyperprior model — each holding
  its integer tables as module buffers, so they travel in ``weights.safetensors``.

Nothing here is imported by ``import ratecraft.entropy``: the classical codecs import only the
NumPy modules and never pay for torch.
"""
