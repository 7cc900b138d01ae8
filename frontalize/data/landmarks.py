"""Landmark schemas: the iBUG 68-point layout and the 5-point layout of MTCNN.

Every module that touches landmark indices goes through the names here, so no
code indexes into someone else's layout with bare numbers.

Image sides: "image-left" is the left of the picture.  In a frontal photo the
subject's right eye is on the image's left; the 5-point layout follows MTCNN,
which orders points by image side, not by the subject's side.

Where points come with a picture: a SynthPIE camera view stores them in its landmark sidecar
``<SSS>_<ss>_<rr>_<ccc>_landmarks.json`` (``five`` in this 5-point layout, ``ibug68`` in the 68-point one), beside
its subject mask ``<SSS>_<ss>_<rr>_<ccc>_alpha.png``; both sidecars are named in data/scan.py.
"""
from __future__ import annotations

import numpy as np

# iBUG 68-point groups (0-based index ranges, end exclusive).
IBUG68 = {
    "jaw": range(0, 17),
    "brow_image_left": range(17, 22),
    "brow_image_right": range(22, 27),
    "nose_bridge": range(27, 31),
    "nose_base": range(31, 36),
    "eye_image_left": range(36, 42),
    "eye_image_right": range(42, 48),
    "lips_outer": range(48, 60),
    "lips_inner": range(60, 68),
}
IBUG68_NOSE_TIP = 30
IBUG68_MOUTH_IMAGE_LEFT = 48
IBUG68_MOUTH_IMAGE_RIGHT = 54

# The 5-point layout, in MTCNN's order.
FIVE_POINTS = ("eye_image_left", "eye_image_right", "nose_tip", "mouth_image_left", "mouth_image_right")


def interocular(five: np.ndarray) -> float:
    five = np.asarray(five, dtype=np.float64)
    return float(np.linalg.norm(five[0] - five[1]))
