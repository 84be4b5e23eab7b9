"""ratecraft: learned compression with honest, adaptive rate control."""

__version__ = "0.2.0"
