"""frontalize: turn a face seen from the side into the same person seen from the front."""

__version__ = "0.1.0"
