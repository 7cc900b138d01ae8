"""The alignment template and the face-region boxes that live in its coordinates.

Frontal targets are similarity-aligned so that their five landmarks land on
``template_points(size)``.  The template is the ArcFace 112x112 template
(the one insightface recognizers are trained on) zoomed out by
``TEMPLATE_ZOOM`` so the whole face, chin and forehead included, fits the
crop.  Because both templates are fixed, a frontalized crop maps to the
recognizer's 112x112 input by one constant scaling about the centre
(``recognition.recognizer.template_to_arcface``).

Region boxes (eyes, nose, mouth, face) are constants of the template: the
region discriminators look at the same pixels of every aligned image.
"""
from __future__ import annotations

import numpy as np

# insightface's 5-point template for 112x112 crops, MTCNN order (image-left eye first)
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
ARCFACE_SIZE = 112
TEMPLATE_ZOOM = 0.78  # the face spans 78 % of what it spans in the ArcFace crop
# Where dlib's HOG detector puts its box on template-aligned frontal faces (fractions of the crop's side: x0, y0, x1,
# y1; measured at 256 px on three real photos and six SynthPIE faces, made symmetric): a frontalized face is described
# there, without detection (inference/identity.py)
FACE_BOX = (0.2, 0.32, 0.8, 0.92)


def template_points(size: int) -> np.ndarray:
    """Where the five landmarks of an aligned frontal face lie in a size x size crop."""
    centre = ARCFACE_SIZE / 2
    return (ARCFACE_112 - centre) * TEMPLATE_ZOOM * (size / ARCFACE_SIZE) + size / 2


def crop_face_box(size: int) -> tuple[float, float, float, float]:
    """``FACE_BOX`` in a ``size``-px crop's pixels (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = FACE_BOX
    return x0 * size, y0 * size, x1 * size, y1 * size


def eye_mouth_axis(points5: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint of the eyes and midpoint of the mouth corners: both stay defined in profile."""
    p = np.asarray(points5, dtype=np.float64)
    return (p[0] + p[1]) / 2, (p[3] + p[4]) / 2


def region_boxes(size: int) -> dict[str, tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1), end exclusive, for the region discriminators at this crop size."""
    t = template_points(size)
    iod = t[1, 0] - t[0, 0]
    eye_y = (t[0, 1] + t[1, 1]) / 2
    mouth_y = (t[3, 1] + t[4, 1]) / 2
    cx = size / 2

    def box(x0, y0, x1, y1):
        return (
            int(max(0, np.floor(x0))),
            int(max(0, np.floor(y0))),
            int(min(size, np.ceil(x1))),
            int(min(size, np.ceil(y1))),
        )

    return {
        "eyes": box(t[0, 0] - 0.55 * iod, eye_y - 0.45 * iod, t[1, 0] + 0.55 * iod, eye_y + 0.35 * iod),
        "nose": box(cx - 0.45 * iod, eye_y + 0.05 * iod, cx + 0.45 * iod, t[2, 1] + 0.3 * iod),
        "mouth": box(t[3, 0] - 0.35 * iod, mouth_y - 0.35 * iod, t[4, 0] + 0.35 * iod, mouth_y + 0.4 * iod),
        "face": box(t[0, 0] - 0.75 * iod, eye_y - 0.9 * iod, t[1, 0] + 0.75 * iod, mouth_y + 0.85 * iod),
    }
