"""Head pose from landmarks: rotation and translation of the reference face that explain a crop's landmarks.

The crop is seen by the reference frame's pinhole camera (geometry/reference.py: a long lens, so perspective
is mild, as with SynthPIE's and Multi-PIE's cameras about a metre away).  OpenCV's PnP
(SQPnP: global, from three points up) fits the reference's 5 (MTCNN) or 68 (iBUG) landmarks to the crop's;
SciPy's least squares then refines it under a prior that the head is upright.

Angles follow the project's convention (data/multipie.py): yaw is positive where the camera stands on the
subject's left, so the nose points to the image's left.  R = R_y(yaw) R_x(pitch) R_z(roll) acts on the
template frame (x right, y down, z away from the viewer).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import least_squares

from frontalize.data.manifest import row_landmarks
from frontalize.geometry.reference import FOCAL_CROPS, reference_face

UPRIGHT_PRIOR = 0.3  # crop pixels of landmark error that one degree of pitch or roll weighs as


@dataclass(frozen=True)
class Pose:
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,) camera frame, crop pixels

    @property
    def angles(self) -> tuple[float, float, float]:
        """(yaw, pitch, roll) in degrees."""
        r = self.rotation
        yaw = np.degrees(np.arctan2(r[0, 2], r[2, 2]))
        pitch = np.degrees(np.arcsin(np.clip(-r[1, 2], -1, 1)))
        roll = np.degrees(np.arctan2(r[1, 0], r[1, 1]))
        return float(yaw), float(pitch), float(roll)

    def as_vector(self) -> np.ndarray:
        """12 numbers (rotation row-major, translation): how a pose travels in a batch."""
        return np.concatenate([self.rotation.ravel(), self.translation]).astype(np.float32)


def camera_matrix(size: int) -> np.ndarray:
    f = FOCAL_CROPS * size
    return np.array([[f, 0.0, size / 2], [0.0, f, size / 2], [0.0, 0.0, 1.0]])


def rotation_from_angles(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def project(points: np.ndarray, pose: Pose, size: int) -> np.ndarray:
    """Crop pixel coordinates of template-frame points (pixel centres at integers)."""
    cam = points @ pose.rotation.T + pose.translation
    return cam[:, :2] / cam[:, 2:] * FOCAL_CROPS * size + size / 2


class PoseError(ValueError):
    pass


def estimate_pose(landmarks: np.ndarray, size: int) -> Pose:
    """The pose that projects the reference's landmarks (5 in MTCNN order, or the 68 iBUG ones) onto ``landmarks``."""
    pts = np.asarray(landmarks, np.float64)
    ref = reference_face(size)
    model = {5: ref.five, 68: ref.ibug68}.get(len(pts))
    if model is None:
        raise PoseError(f"pose needs the 5 or the 68 landmarks, got {len(pts)}")
    if not np.all(np.isfinite(pts)) or np.linalg.norm(pts.max(0) - pts.min(0)) < 2.0:
        raise PoseError("landmarks are not finite or coincide")
    ok, rvec, tvec = cv2.solvePnP(model.astype(np.float64), pts, camera_matrix(size), None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok or tvec[2, 0] <= 0:
        raise PoseError("no pose fits these landmarks")
    return _with_upright_prior(Pose(cv2.Rodrigues(rvec)[0], tvec[:, 0]), model, pts, size)


def _with_upright_prior(start: Pose, model: np.ndarray, points: np.ndarray, size: int) -> Pose:
    """Refine a PnP pose with a prior that the head is upright (pitch and roll near 0): a MAP estimate.

    Five landmarks cannot tell a pitched head from a longer or shorter nose than the reference's, so a free fit
    answers individual proportions with tilts, and the warp then bends frontal faces (measured on SynthPIE v2:
    face SSIM of the warp at 0 degrees 0.83 free, 0.88 with this prior; unchanged at +-45).  Multi-PIE's
    cameras stand at head height; the two raised ones get an underestimated pitch.
    """
    yaw, pitch, roll = start.angles

    def residuals(v: np.ndarray) -> np.ndarray:
        pose = Pose(rotation_from_angles(*v[:3]), v[3:])
        return np.concatenate([(project(model, pose, size) - points).ravel(), UPRIGHT_PRIOR * v[1:3]])

    v = least_squares(residuals, [yaw, pitch, roll, *start.translation], method="lm").x
    return Pose(rotation_from_angles(*v[:3]), v[3:])


def nominal_pose(yaw: float, five: np.ndarray, size: int) -> Pose:
    """A pose at a known yaw (a Multi-PIE camera's) whose eye and mouth midpoints land where ``five``'s do.

    For crops whose landmarks are only an eye-mouth axis (preparation's camera prior, where a detector
    found no face): depth and in-plane position come from that axis, the turn from the camera.
    """
    ref = reference_face(size)
    rot = rotation_from_angles(yaw)
    model_axis = np.stack([ref.five[:2].mean(0), ref.five[3:].mean(0)])
    seen_axis = np.stack([np.asarray(five)[:2].mean(0), np.asarray(five)[3:].mean(0)])
    f = FOCAL_CROPS * size
    turned = model_axis @ rot.T
    length_model = np.linalg.norm(turned[1, :2] - turned[0, :2])
    length_seen = max(np.linalg.norm(seen_axis[1] - seen_axis[0]), 1e-3)
    z = f * length_model / length_seen  # weak perspective: the distance that gives the axis its length
    centre_seen = seen_axis.mean(0) - size / 2
    centre_model = turned.mean(0)
    translation = np.array([*(centre_seen * (z + centre_model[2]) / f - centre_model[:2]), z])
    return Pose(rot, translation)


def crop_pose(five: np.ndarray, size: int, exact: bool = True, yaw: float | None = None) -> tuple[Pose, np.ndarray]:
    """The pose of a crop and the five landmarks the warp will use, from the crop's five landmarks.

    ``exact``: the landmarks were measured (ground truth or a detector); else they are only an eye-mouth axis
    (preparation's camera prior) and the pose is the camera's nominal ``yaw`` placed on that axis, its
    landmarks the reference's seen in that pose.  A measured set that no pose fits falls back the same way.
    """
    if exact:
        try:
            return estimate_pose(five, size), np.asarray(five, np.float64)
        except PoseError:
            if yaw is None:
                raise
    if yaw is None:
        raise PoseError("landmarks without measured eyes need the camera's yaw")
    pose = nominal_pose(yaw, five, size)
    return pose, project(reference_face(size).five, pose, size)


def frontal_pose(size: int) -> Pose:
    """The reference seen from the front, filling the template exactly."""
    return Pose(np.eye(3), np.array([0.0, 0.0, FOCAL_CROPS * size]))


def poses_of(landmarks: list[np.ndarray], yaws: list[float], size: int) -> np.ndarray:
    """(B, 12) pose vectors for crops' five landmarks (a set no pose fits falls back to the camera's yaw)."""
    return np.stack([crop_pose(lm, size, exact=True, yaw=yaw)[0].as_vector() for lm, yaw in zip(landmarks, yaws)])


def row_poses(rows: list[dict], size: int) -> np.ndarray:
    """(B, 12) pose vectors of manifest rows, from their stored landmarks."""
    return poses_of([row_landmarks(r) for r in rows], [float(r["yaw"]) for r in rows], size)
