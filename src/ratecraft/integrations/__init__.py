"""Ratecraft inside other tools: numcodecs / zarr codecs."""
