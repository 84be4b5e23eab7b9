"""Container format (.rcz) and entropy coding."""
