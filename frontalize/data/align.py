"""Similarity alignment to the template (scikit-image estimates, OpenCV warps).

Frontal faces: the five landmarks are fitted to the template by least squares.
Other poses: the eye-midpoint -> mouth-midpoint axis is mapped onto the
template's axis.  That axis keeps its length and direction as the head turns,
so a profile crop has the same scale and framing height as the frontal one,
and it only needs points that stay defined in profile.
"""
from __future__ import annotations

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

from frontalize.data.template import eye_mouth_axis, template_points


class AlignmentError(ValueError):
    pass


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if not np.all(np.isfinite(src)):
        raise AlignmentError("landmarks are not finite")
    tf = SimilarityTransform.from_estimate(src, dst)
    if not tf or not np.all(np.isfinite(tf.params)) or abs(np.linalg.det(tf.params[:2, :2])) < 1e-8:
        raise AlignmentError("degenerate landmarks: no similarity transform")
    return tf.params[:2].copy()


def frontal_transform(five: np.ndarray, size: int) -> np.ndarray:
    """2x3 matrix taking image pixels to the template crop (five-point least squares)."""
    return _similarity(five, template_points(size))


def pose_transform(five: np.ndarray, size: int) -> np.ndarray:
    """2x3 matrix for any pose: the eye-mouth axis onto the template's eye-mouth axis."""
    src = np.stack(eye_mouth_axis(five))
    if np.linalg.norm(src[1] - src[0]) < 1.0:
        raise AlignmentError("eye and mouth points coincide")
    return _similarity(src, np.stack(eye_mouth_axis(template_points(size))))


def warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Crop ``size x size``; blur first when shrinking so the crop does not alias."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.7:
        sigma = 0.5 * (1.0 / scale - 1.0)
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    p = np.asarray(points, np.float64)
    return p @ matrix[:, :2].T + matrix[:, 2]
