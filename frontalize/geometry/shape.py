"""A reference head fitted to one face: the SynthPIE heads' shape space fitted to the face's 68 landmarks.

The mean reference (geometry/reference.py) gives every face the same nose, cheeks and brow.  Here the heads it is
averaged from also span a small linear shape model (a 3D morphable model in the simplest sense): ``SHAPE_HEADS``
heads drawn from their own fixed seed, each built exactly as the mean is (its front surface aligned to the template by
its five landmarks, as a depth map, with its 68 and 5 landmarks in 3D), and the principal directions of how they
differ from their average (``COMPONENTS`` of them).  ``fit_reference`` finds the head in that space whose 68 landmarks,
seen in the face's pose, project onto the face's (SciPy's least squares: reprojection in crop pixels and a Gaussian
prior on the shape in units of each direction's spread); the fitted head is the mean reference moved along those
directions, on the mean's face mask, so the warp's layout does not change.

Measured on real faces it does not help (docs/real_faces.md): an option (``Frontalizer(fit_heads=True)``), off by
default.

Only the inner 51 landmarks are fitted (brows, nose, eyes, mouth): the jaw points of a turned face lie on its
silhouette, not on the anatomical jaw.  Landmarks come from the caller (dlib's 68-point predictor on photos,
face/landmarks68.py), which holds only to about +-45 degrees of yaw on real faces (docs/real_faces.md): beyond that the
mean is used.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np
from scipy.optimize import least_squares

from frontalize.geometry.pose import IBUG_INNER, Pose, PoseError, project
from frontalize.geometry.reference import BUILD_SIZE, ReferenceFace, reference_face, reference_from_heads, resampled

SHAPE_HEADS = 64
SHAPE_SEED = 2016  # not the mean's seed: the shape space is learned from other heads than the ones averaged
COMPONENTS = 8
SHAPE_PRIOR = 1.0  # crop pixels of landmark error that one standard deviation of a shape direction weighs as
INNER = IBUG_INNER  # brows, nose, eyes, mouth: the points a turned face shows where they are
MAX_FIT_YAW = 45.0  # beyond this the 68 points of a real face are not where they belong (docs/real_faces.md)


@dataclass(frozen=True)
class ShapeModel:
    mean: ReferenceFace  # the project's mean reference at BUILD_SIZE
    depth: np.ndarray  # (K, S, S): how the depth map moves along each direction, one standard deviation
    ibug68: np.ndarray  # (K, 68, 3)
    five: np.ndarray  # (K, 5, 3)

    def head(self, coefficients: np.ndarray) -> ReferenceFace:
        """The mean moved by ``coefficients`` (in standard deviations) along the directions, at BUILD_SIZE."""
        c = np.asarray(coefficients, np.float64)
        depth = self.mean.depth + np.tensordot(c, self.depth, axes=1).astype(np.float32)
        return replace(self.mean, depth=depth.astype(np.float32),
                       ibug68=self.mean.ibug68 + np.tensordot(c, self.ibug68, axes=1),
                       five=self.mean.five + np.tensordot(c, self.five, axes=1))


@lru_cache(maxsize=1)
def shape_model() -> ShapeModel:
    """Built once per process (about 2 s), deterministically."""
    from frontalize.synthpie.head import Head, sample_subject

    rng = np.random.default_rng(SHAPE_SEED)
    mean = reference_face(BUILD_SIZE)
    # only the face's own shape: a single head's depth beyond the mean's face mask is its hair style and ears (and
    # inpainting), which no facial landmark constrains; the mask's edge is feathered so the fitted surface stays smooth
    inner = cv2.GaussianBlur(cv2.erode(mean.face.astype(np.float32), np.ones((5, 5), np.uint8)), (0, 0), 3.0)
    heads = [reference_from_heads([Head(sample_subject(rng))]) for _ in range(SHAPE_HEADS)]
    rows = np.stack([np.concatenate([(h.depth * inner).ravel(), h.ibug68.ravel(), h.five.ravel()]) for h in heads])
    centred = rows - rows.mean(0)
    _, singular, directions = np.linalg.svd(centred, full_matrices=False)
    scaled = directions[:COMPONENTS] * (singular[:COMPONENTS, None] / np.sqrt(len(heads) - 1))  # one sd each
    n = BUILD_SIZE * BUILD_SIZE
    return ShapeModel(mean, scaled[:, :n].reshape(COMPONENTS, BUILD_SIZE, BUILD_SIZE),
                      scaled[:, n : n + 204].reshape(COMPONENTS, 68, 3), scaled[:, n + 204 :].reshape(COMPONENTS, 5, 3))


@dataclass(frozen=True)
class FittedHead:
    reference: ReferenceFace  # at the crop's size
    pose: Pose  # of that head in the crop
    coefficients: np.ndarray  # (COMPONENTS,) standard deviations along each direction
    residual: float  # median reprojection error of the fitted points, crop pixels


def fit_reference(landmarks68: np.ndarray, size: int, pose: Pose) -> FittedHead:
    """The head of the shape space whose 68 landmarks, seen in ``pose`` (the crop's, fitted to its five points),
    best explain a crop's 68 landmarks (``size`` px crop).

    The pose stays as given: fitted jointly with the shape, dlib's 68 points on real faces pulled the pose away from
    the five-point one (at 45 degrees on Pointing'04 the warp's rank-1 fell from 96.7 to 68.3 %, docs/real_faces.md)."""
    pts = np.asarray(landmarks68, np.float64)
    if pts.shape != (68, 2) or not np.all(np.isfinite(pts)):
        raise PoseError("a fitted head needs the 68 landmarks, finite")
    k = BUILD_SIZE / size
    seen = ((pts + 0.5) * k - 0.5)[INNER]  # in the model's crop (pixel centres at integers)
    model = shape_model()
    at_build = Pose(pose.rotation, pose.translation * k)

    def residuals(c: np.ndarray) -> np.ndarray:
        points = (model.mean.ibug68 + np.tensordot(c, model.ibug68, axes=1))[INNER]
        return np.concatenate([(project(points, at_build, BUILD_SIZE) - seen).ravel(), SHAPE_PRIOR * c])

    c = least_squares(residuals, np.zeros(COMPONENTS), method="lm").x
    err = residuals(c)[: 2 * len(seen)].reshape(-1, 2)
    head = model.head(c)
    return FittedHead(resampled(head, size) if size != BUILD_SIZE else head, pose, c,
                      float(np.median(np.linalg.norm(err, axis=1))) / k)
