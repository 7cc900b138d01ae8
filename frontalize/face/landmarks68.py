"""dlib's 68-point shape predictor (iBUG 300-W layout), for the reference head fitted to a face (geometry/shape.py).

Its model ships in ``face_recognition_models`` (the optional ``judge`` extra, with dlib): nothing is downloaded.  It
is a different model from the judge's (dlib's 5-point predictor and ResNet descriptor), and it only places points:
no identity passes through it.  On Pointing'04's real faces its points give a yaw within 5 degrees of the label up to
+-45 and drift beyond (docs/real_faces.md), so callers use it within that range.
"""
from __future__ import annotations

import numpy as np

from frontalize.face.dlib_identity import INSTALL, JudgeMissing, model_dir

PREDICTOR = "shape_predictor_68_face_landmarks.dat"


def available() -> bool:
    try:
        import dlib  # noqa: F401

        return (model_dir() / PREDICTOR).is_file()
    except (ImportError, JudgeMissing):
        return False


class Landmarks68:
    """The 68 points of the face in a box of an RGB uint8 picture."""

    def __init__(self):
        try:
            import dlib
        except ImportError:
            raise JudgeMissing(f"the fitted head needs dlib's 68-point predictor: {INSTALL}") from None
        path = model_dir() / PREDICTOR
        if not path.is_file():
            raise JudgeMissing(f"{path} is missing: {INSTALL}")
        self.dlib = dlib
        self.predictor = dlib.shape_predictor(str(path))

    def __call__(self, rgb: np.ndarray, box) -> np.ndarray:
        """(68, 2) pixel coordinates (pixel centres at integers) for the face in ``box`` (x0, y0, x1, y1)."""
        rect = self.dlib.rectangle(*(int(round(v)) for v in box))
        shape = self.predictor(np.ascontiguousarray(rgb, dtype=np.uint8), rect)
        return np.array([[p.x, p.y] for p in shape.parts()], np.float64)
