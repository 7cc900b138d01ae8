"""MTCNN's landmark error per Multi-PIE camera, so that training can give exact landmarks the error infer's have.

Training fits each input's pose to SynthPIE's exact landmarks; ``frontalize infer`` fits it to MTCNN's, which
err more the further the head turns.  ``MTCNN_ERROR`` is that error, measured against SynthPIE's exact points
(bench/landmarks.py; the command and the date stand above the table, the figures in docs/mtcnn_landmark_error.md):
per camera, MTCNN's detection rate and its points minus the exact ones, in pixels of a ``MEASURED_AT``-px training
crop (x right, y down; MTCNN's order, image-left first): the mean per point (bias), the standard deviation of the
five points' common shift (shared), and each point's standard deviation about that shift (spread).  Most of
MTCNN's error moves all five points together (its box is off), which shifts a face but hardly turns it; drawing
every point independently with its whole spread would turn the fitted poses up to five times as much as MTCNN does
beyond +-60 degrees (docs/mtcnn_landmark_error.md).  ``perturb`` draws bias + one common shift + independent per-point residuals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MEASURED_AT = 128  # crop size of the table's pixels; other sizes scale them
MIN_DETECTION_RATE = 0.2  # below this, too few faces to model: the nearest modelled camera's error stands in


@dataclass(frozen=True)
class LandmarkError:
    yaw: int  # the camera's, degrees (data/multipie.py's sign)
    detection_rate: float
    bias: tuple | None  # (5, 2) mean error, crop pixels at MEASURED_AT; None where MTCNN found (almost) no face
    shared: tuple | None  # (2,) standard deviation of the five points' mean error (x, y)
    spread: tuple | None  # (5, 2) standard deviation of each point's error about that mean


# Measured 2026-11-30 on SynthPIE `small` v3 (seed 0), 200 images per camera (the sample of seed 0; 3,000 images),
# MTCNN from facenet-pytorch 2.5.3 as preparation runs it, on the project's 2-core machine:
#   python -m frontalize.bench.landmarks --root SYNTHPIE_SMALL --per-camera 200 --table TABLE.py
# Columns: yaw, detection rate, bias (5 x (x, y)), shared (x, y), spread (5 x (x, y)); pixels at MEASURED_AT.
MTCNN_ERROR: dict[str, LandmarkError] = {
    "11_0": LandmarkError(-90, 0.235, ((-4.96, -3.72), (12.58, -4.91), (11.41, -7.85), (-2.43, -2.24), (9.88, -4.67)),
                         (9.75, 4.0), ((4.08, 3.39), (3.15, 3.53), (2.57, 2.73), (3.07, 3.51), (3.55, 3.2))),
    "12_0": LandmarkError(-75, 0.81, ((-1.03, -0.73), (7.23, -2.16), (8.11, -3.12), (1.81, 1.75), (7.36, -1.46)),
                         (6.95, 7.27), ((3.26, 4.09), (3.1, 4.2), (3.49, 2.63), (3.54, 4.26), (2.99, 4.07))),
    "09_0": LandmarkError(-60, 0.94, ((2.9, -0.11), (5.42, -2.05), (7.32, -1.6), (3.74, 3.93), (5.19, 0.84)),
                         (3.58, 3.91), ((2.53, 3.53), (2.33, 4.09), (3.23, 2.39), (2.98, 4.24), (2.53, 3.46))),
    "08_0": LandmarkError(-45, 0.99, ((4.11, 0.05), (3.85, -1.8), (5.49, -1.49), (3.11, 3.79), (3.33, 1.48)),
                         (2.66, 2.57), ((1.94, 2.57), (2.06, 3.11), (2.6, 2.35), (2.54, 3.6), (2.19, 2.87))),
    "13_0": LandmarkError(-30, 0.99, ((3.32, -0.45), (2.18, -1.6), (2.81, -1.17), (1.56, 2.45), (1.93, 1.2)),
                         (2.0, 2.2), ((1.62, 1.83), (1.63, 2.5), (1.93, 2.01), (2.03, 2.93), (2.08, 2.25))),
    "14_0": LandmarkError(-15, 1.0, ((3.15, -0.56), (1.12, -1.1), (1.95, -0.59), (1.73, 1.48), (1.91, 0.72)),
                         (1.8, 2.06), ((1.8, 1.95), (1.41, 2.29), (1.73, 2.0), (1.85, 2.74), (2.37, 2.43))),
    "05_1": LandmarkError(0, 1.0, ((2.43, -0.92), (0.36, -1.12), (0.73, -1.41), (1.4, 0.41), (0.69, 0.1)),
                         (0.83, 1.74), ((1.25, 2.02), (1.13, 1.79), (1.64, 1.41), (1.84, 2.18), (1.77, 2.4))),
    "05_0": LandmarkError(15, 1.0, ((2.37, -0.97), (0.03, -1.45), (0.29, -2.02), (1.45, 0.18), (0.68, -0.2)),
                         (1.05, 2.23), ((1.75, 2.38), (1.56, 2.11), (1.96, 1.83), (2.06, 2.38), (2.04, 2.65))),
    "04_1": LandmarkError(30, 0.985, ((1.42, -0.66), (-0.32, -0.89), (-0.38, -1.95), (1.0, 0.93), (0.2, 0.73)),
                         (1.4, 2.74), ((1.84, 2.35), (1.56, 2.22), (2.46, 2.16), (2.07, 2.44), (2.28, 2.66))),
    "19_0": LandmarkError(45, 1.0, ((0.1, -0.82), (-0.34, -1.25), (-1.97, -2.28), (-0.05, 1.3), (-0.08, 1.28)),
                         (2.07, 2.93), ((1.75, 2.94), (1.83, 2.78), (2.8, 2.35), (2.18, 2.92), (2.57, 3.39))),
    "20_0": LandmarkError(60, 0.935, ((-1.09, -1.18), (1.38, -0.98), (-3.36, -2.78), (-1.91, 0.39), (-0.01, 1.5)),
                         (2.7, 4.58), ((2.47, 3.5), (2.3, 3.98), (3.18, 2.44), (2.28, 3.86), (2.6, 3.83))),
    "01_0": LandmarkError(75, 0.805, ((-2.74, -1.43), (5.07, -1.58), (-3.07, -3.71), (-2.35, -1.55), (2.51, -0.65)),
                         (3.09, 5.23), ((2.79, 3.33), (3.2, 3.99), (3.47, 2.42), (2.46, 4.15), (2.92, 3.53))),
    "24_0": LandmarkError(90, 0.275, ((-6.27, -4.99), (9.41, -5.02), (-5.46, -8.92), (-5.73, -5.44), (4.25, -4.0)),
                         (5.18, 4.2), ((3.65, 3.14), (2.64, 4.78), (2.73, 2.63), (1.88, 4.64), (3.58, 3.54))),
    "08_1": LandmarkError(-45, 0.995, ((7.12, 7.19), (5.46, -2.22), (8.88, -1.14), (5.33, 9.12), (5.1, 1.14)),
                         (7.28, 3.54), ((2.18, 2.71), (2.36, 3.24), (2.9, 2.6), (2.94, 3.59), (2.72, 2.5))),
    "19_1": LandmarkError(45, 0.99, ((0.21, -1.78), (-2.63, 3.44), (-3.12, -3.37), (0.85, -0.04), (-0.59, 3.77)),
                         (2.31, 3.31), ((1.95, 3.2), (1.88, 3.12), (2.67, 2.61), (2.56, 2.88), (2.75, 3.66))),
}


def error_of(camera: str) -> LandmarkError:
    """The camera's error, or where MTCNN too rarely finds a face to measure it, the nearest modelled camera's on the
    same side (the faces it misses are not frontalized at all by infer; those it finds err like its neighbours')."""
    if camera not in MTCNN_ERROR:
        raise KeyError(f"no MTCNN error model for camera {camera!r}; known: {', '.join(MTCNN_ERROR)}")
    own = MTCNN_ERROR[camera]
    if own.bias is not None and own.detection_rate >= MIN_DETECTION_RATE:
        return own
    modelled = [e for e in MTCNN_ERROR.values() if e.bias is not None and e.detection_rate >= MIN_DETECTION_RATE
                and np.sign(e.yaw) == np.sign(own.yaw)]
    return min(modelled, key=lambda e: abs(e.yaw - own.yaw))


def draw(error: LandmarkError, rng: np.random.Generator) -> np.ndarray:
    """(5, 2) one draw of the error, crop pixels at MEASURED_AT: bias, one common shift, per-point residuals."""
    shift = np.asarray(error.shared) * rng.standard_normal(2)
    return np.asarray(error.bias) + shift + np.asarray(error.spread) * rng.standard_normal((5, 2))


def perturb(five: np.ndarray, camera: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Five crop landmarks (``size`` px) moved by a draw of MTCNN's error at ``camera``."""
    return np.asarray(five, np.float64) + draw(error_of(camera), rng) * (size / MEASURED_AT)


HEAD_HEIGHT = ("11_0", "12_0", "09_0", "08_0", "13_0", "14_0", "05_1", "05_0", "04_1", "19_0", "20_0", "01_0", "24_0")
MIRRORED_POINTS = [1, 0, 2, 4, 3]  # MTCNN's order with image-left and image-right swapped


def _mirrored(bias: np.ndarray) -> np.ndarray:
    b = bias[MIRRORED_POINTS].copy()
    b[:, 0] *= -1
    return b


def _bias_at(yaw: float) -> np.ndarray:
    table = sorted((MTCNN_ERROR[c].yaw, np.asarray(MTCNN_ERROR[c].bias, np.float64)) for c in HEAD_HEIGHT)
    yaws = np.array([y for y, _ in table], np.float64)
    biases = np.stack([b for _, b in table]).reshape(len(table), -1)
    y = float(np.clip(yaw, yaws[0], yaws[-1]))
    return np.array([np.interp(y, yaws, biases[:, k]) for k in range(biases.shape[1])]).reshape(5, 2)


def turning_bias(yaw: float) -> np.ndarray:
    """(5, 2) how MTCNN's points drift as a head turns to ``yaw``, crop pixels at MEASURED_AT: the head-height
    cameras' bias interpolated in yaw, made mirror-symmetric (a face's two sides are mirror images; what is not
    symmetric in the table is SynthPIE's, not the turn's), less its frontal value (an offset MTCNN has on SynthPIE's
    frontal faces says nothing about turning).  The drift pulls the points towards a frontal layout (at -45: the nose
    5.5 px towards the face's centre), so a pose fitted to them turns the head too little."""
    symmetric = lambda y: 0.5 * (_bias_at(y) + _mirrored(_bias_at(-y)))  # noqa: E731
    return symmetric(yaw) - symmetric(0.0)
