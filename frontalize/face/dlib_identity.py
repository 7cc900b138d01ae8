"""An independent judge for real photos: dlib's ResNet face descriptor (128-d) and its 5-point shape predictor.

The models are those the PyPI packages ``dlib-bin`` (dlib compiled, no build step) and ``face_recognition_models``
(the .dat files) ship, read from the installed package: nothing is downloaded at run time.  No training in
this project uses them, so a generator cannot have learned to please them; dlib trained them on millions of
real faces, so they judge photos of real people, which SynthPIE-trained recognizers cannot.

Two descriptors of one person lie closer than dlib's line ``SAME_PERSON`` (0.6, Euclidean; dlib reports 99.38 %
on LFW with it).  A face is described inside a box: the shape predictor puts its five points in the box, the
network sees the 150-px chip they align.  ``find_faces`` gives dlib's own boxes (its HOG detector), for callers
that have none.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SAME_PERSON = 0.6
PACKAGES = "dlib-bin==20.0.1.post1 face_recognition_models==0.3.0"
INSTALL = f"pip install 'frontalize[judge]' (or: pip install {PACKAGES})"
SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"


class JudgeMissing(RuntimeError):
    """dlib or its models are not installed; the message names the pip command."""


def model_dir() -> Path:
    """The .dat files' folder inside the installed face_recognition_models.

    Found without importing the package: its __init__ imports pkg_resources, which recent setuptools no longer has.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise JudgeMissing(f"--check-identity needs dlib's face models (the face_recognition_models package): {INSTALL}")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    missing = [n for n in (SHAPE_PREDICTOR, DESCRIPTOR) if not (folder / n).is_file()]
    if missing:
        raise JudgeMissing(f"{folder} lacks {', '.join(missing)}: reinstall the models: {INSTALL}")
    return folder


class DlibJudge:
    """dlib's descriptor for faces in RGB uint8 images."""

    def __init__(self):
        try:
            import dlib
        except ImportError:
            raise JudgeMissing(f"--check-identity needs dlib (the dlib-bin package): {INSTALL}") from None
        folder = model_dir()
        self.dlib = dlib
        self.shape = dlib.shape_predictor(str(folder / SHAPE_PREDICTOR))
        self.net = dlib.face_recognition_model_v1(str(folder / DESCRIPTOR))
        self._detector = None

    def find_faces(self, rgb: np.ndarray, upsample: int = 1) -> list[tuple[float, float, float, float]]:
        """dlib's HOG detector's boxes (x0, y0, x1, y1), largest first; it finds frontal and near-frontal faces."""
        if self._detector is None:
            self._detector = self.dlib.get_frontal_face_detector()
        found = self._detector(np.ascontiguousarray(rgb), upsample)
        boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in found]
        return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))

    def describe(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """The 128-d descriptor of the face in ``box`` (x0, y0, x1, y1 in pixels)."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        rect = self.dlib.rectangle(*(int(round(v)) for v in box))
        return np.asarray(self.net.compute_face_descriptor(rgb, self.shape(rgb, rect)), np.float64)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean, as dlib's line is drawn: under ``SAME_PERSON`` means the same person."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))
