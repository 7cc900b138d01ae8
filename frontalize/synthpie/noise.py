"""Smooth random fields on the head's (theta, phi) map: skin blotches, pores, freckles, hair strands, curls.

A field is a small table of uniform random numbers, read with cubic
interpolation (OpenCV's remap, about ten times faster than SciPy's
map_coordinates here) and wrapped at its borders, so it can be sampled at any
scale: one table cell per ``cell`` radians.  Each subject draws its own
tables, so skin detail is part of identity.
"""
from __future__ import annotations

import cv2
import numpy as np

_ROW = 1024  # remap wants 2-D maps no taller than 32767 rows: flat queries are laid out in rows of this length


class NoiseField:
    def __init__(self, rng: np.random.Generator, size: int = 96):
        self.table = rng.random((size, size)).astype(np.float32)

    def __call__(self, th: np.ndarray, ph: np.ndarray, cell: float, cell_ph: float | None = None) -> np.ndarray:
        """Values in about [0, 1] with features ``cell`` radians wide (``cell_ph`` tall, if given)."""
        th, ph = np.broadcast_arrays(np.asarray(th), np.asarray(ph))
        x = (th / cell).astype(np.float32).ravel()
        y = (ph / (cell_ph or cell)).astype(np.float32).ravel()
        n = x.size
        pad = -n % _ROW
        x = np.concatenate([x, np.zeros(pad, np.float32)]).reshape(-1, _ROW)
        y = np.concatenate([y, np.zeros(pad, np.float32)]).reshape(-1, _ROW)
        out = cv2.remap(self.table, x, y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
        return out.ravel()[:n].reshape(th.shape).astype(np.float64)
