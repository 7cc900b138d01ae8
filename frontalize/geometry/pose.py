"""Head pose from landmarks: rotation and translation of the reference face that explain a crop's landmarks.

The crop is seen by the reference frame's pinhole camera (geometry/reference.py: a long lens, so perspective
is mild, as with SynthPIE's and Multi-PIE's cameras about a metre away).  OpenCV's PnP
(SQPnP: global, from three points up) fits the reference's 5 (MTCNN) or 68 (iBUG) landmarks to the crop's;
SciPy's least squares then refines it under a prior that the head is upright.

Angles follow Multi-PIE's camera table (data/multipie.py): yaw is positive where the camera stands on the
subject's right, so the nose points to the image's right (24_0, +90, shows the right profile).  R = R_y(-yaw)
R_x(pitch) R_z(roll) acts on the template frame (x right, y down, z away from the viewer).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import least_squares

from frontalize.data.manifest import row_landmarks
from frontalize.data.multipie import CAMERA_BY_NAME
from frontalize.geometry.reference import FOCAL_CROPS, ReferenceFace, reference_face

UPRIGHT_PRIOR = 0.3  # crop pixels of landmark error that one degree of pitch or roll weighs as


@dataclass(frozen=True)
class Pose:
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,) camera frame, crop pixels

    @property
    def angles(self) -> tuple[float, float, float]:
        """(yaw, pitch, roll) in degrees."""
        r = self.rotation
        yaw = -np.degrees(np.arctan2(r[0, 2], r[2, 2]))  # R_y(-yaw): see the module docstring
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
    y, p, r = np.radians([-yaw, pitch, roll])  # a positive yaw turns the nose towards the image's right
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def camera_rotation(yaw: float, elevation: float = 0.0) -> np.ndarray:
    """The rotation of an upright head seen by a camera at Multi-PIE's ``yaw`` and ``elevation`` (degrees above head
    height), aimed at the head: a raised camera sees it pitched *and* rolled (19_1, +45 and 20 up: pitch 14, roll -14)."""
    y, e = np.radians([yaw, elevation])
    towards_camera = np.array([-np.sin(y) * np.cos(e), -np.sin(e), -np.cos(y) * np.cos(e)])  # template frame
    forward = -towards_camera
    right = np.cross([0.0, 1.0, 0.0], forward)
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(forward, right), forward])


def project(points: np.ndarray, pose: Pose, size: int) -> np.ndarray:
    """Crop pixel coordinates of template-frame points (pixel centres at integers)."""
    cam = points @ pose.rotation.T + pose.translation
    return cam[:, :2] / cam[:, 2:] * FOCAL_CROPS * size + size / 2


IBUG_INNER = slice(17, 68)  # the iBUG points a turned face shows where they are (no jawline)


class PoseError(ValueError):
    pass


def _model_landmarks(landmarks: np.ndarray, ref: ReferenceFace) -> tuple[np.ndarray, np.ndarray]:
    """The crop's landmarks as floats and the reference's matching 3D ones (5 in MTCNN order, the 68 iBUG ones, or
    their 51 inner ones: brows, nose, eyes and mouth, without the jaw, whose points slide along a turned face's
    silhouette)."""
    pts = np.asarray(landmarks, np.float64)
    model = {5: ref.five, 68: ref.ibug68, 51: ref.ibug68[IBUG_INNER]}.get(len(pts))
    if model is None:
        raise PoseError(f"pose needs the 5, the 68 or the 51 inner iBUG landmarks, got {len(pts)}")
    if not np.all(np.isfinite(pts)) or np.linalg.norm(pts.max(0) - pts.min(0)) < 2.0:
        raise PoseError("landmarks are not finite or coincide")
    return pts, model


def estimate_pose(landmarks: np.ndarray, size: int, elevation: float = 0.0, reference: ReferenceFace | None = None) -> Pose:
    """The pose that projects the reference's landmarks (5 in MTCNN order, or the 68 iBUG ones) onto ``landmarks``.

    ``elevation``: the camera's height above the head in degrees where it is known (Multi-PIE's raised cameras): the
    upright prior is then centred on the tilt such a camera sees.  ``reference``: the 3D face whose landmarks are
    fitted (default: the project's mean reference at ``size``)."""
    pts, model = _model_landmarks(landmarks, reference_face(size) if reference is None else reference)
    ok, rvec, tvec = cv2.solvePnP(model.astype(np.float64), pts, camera_matrix(size), None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok or tvec[2, 0] <= 0:
        raise PoseError("no pose fits these landmarks")
    start = Pose(cv2.Rodrigues(rvec)[0], tvec[:, 0])
    tilt = Pose(camera_rotation(start.angles[0], elevation), np.zeros(3)).angles[1:] if elevation else (0.0, 0.0)
    return _with_upright_prior(start, model, pts, size, np.asarray(tilt))


def _with_upright_prior(start: Pose, model: np.ndarray, points: np.ndarray, size: int,
                        tilt: np.ndarray = np.zeros(2)) -> Pose:
    """Refine a PnP pose with a prior that the head is upright (pitch and roll near 0): a MAP estimate.

    Five landmarks cannot tell a pitched head from a longer or shorter nose than the reference's, so a free fit
    answers individual proportions with tilts, and the warp then bends frontal faces (measured on SynthPIE v2:
    face SSIM of the warp at 0 degrees 0.83 free, 0.88 with this prior; unchanged at +-45).  ``tilt``: the
    (pitch, roll) the prior is centred on, (0, 0) for head-height cameras; a raised camera's own (issue #19: centred
    on 0, five points gave 19_1's views about 9 degrees of pitch and roll where the camera sees 14 of each).
    """
    yaw, pitch, roll = start.angles

    def residuals(v: np.ndarray) -> np.ndarray:
        pose = Pose(rotation_from_angles(*v[:3]), v[3:])
        return np.concatenate([(project(model, pose, size) - points).ravel(), UPRIGHT_PRIOR * (v[1:3] - tilt)])

    v = least_squares(residuals, [yaw, pitch, roll, *start.translation], method="lm").x
    return Pose(rotation_from_angles(*v[:3]), v[3:])


def pose_with_rotation(rotation: np.ndarray, landmarks: np.ndarray, size: int, reference: ReferenceFace | None = None) -> Pose:
    """The pose with a known ``rotation`` whose translation (depth: the scale) best projects the reference's
    landmarks onto ``landmarks`` (least squares in crop pixels).  For crops whose head pose is known exactly
    (SynthPIE's ground truth, geometry/oracle.py): only where the head sits and how large it is remain to fit."""
    pts, model = _model_landmarks(landmarks, reference_face(size) if reference is None else reference)
    rot = np.asarray(rotation, np.float64)
    turned = model @ rot.T
    f = FOCAL_CROPS * size
    # start: weak perspective at the landmarks' spread, centred on their centroid
    spread_model = np.linalg.norm(turned[:, :2] - turned[:, :2].mean(0), axis=1).mean()
    spread_seen = max(np.linalg.norm(pts - pts.mean(0), axis=1).mean(), 1e-3)
    z = f * spread_model / spread_seen
    start = np.array([*((pts.mean(0) - size / 2) * z / f - turned[:, :2].mean(0)), z])

    def residuals(t: np.ndarray) -> np.ndarray:
        return (project(model, Pose(rot, t), size) - pts).ravel()

    return Pose(rot, least_squares(residuals, start, method="lm").x)


def nominal_pose(yaw: float, five: np.ndarray, size: int, elevation: float = 0.0) -> Pose:
    """A pose at a known camera yaw and elevation (a Multi-PIE camera's) whose eye and mouth midpoints land where
    ``five``'s do.

    For crops whose landmarks are only an eye-mouth axis (preparation's camera prior, where a detector
    found no face): depth and in-plane position come from that axis, the turn from the camera.
    """
    ref = reference_face(size)
    rot = camera_rotation(yaw, elevation)
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


def crop_pose(five: np.ndarray, size: int, exact: bool = True, yaw: float | None = None,
              elevation: float = 0.0) -> tuple[Pose, np.ndarray]:
    """The pose of a crop and the five landmarks the warp will use, from the crop's five landmarks.

    ``exact``: the landmarks were measured (ground truth or a detector); else they are only an eye-mouth axis
    (preparation's camera prior) and the pose is the camera's nominal ``yaw`` placed on that axis, its
    landmarks the reference's seen in that pose.  A measured set that no pose fits falls back the same way.
    ``elevation``: the camera's, where known (prepared Multi-PIE crops).
    """
    if exact:
        try:
            return estimate_pose(five, size, elevation), np.asarray(five, np.float64)
        except PoseError:
            if yaw is None:
                raise
    if yaw is None:
        raise PoseError("landmarks without measured eyes need the camera's yaw")
    pose = nominal_pose(yaw, five, size, elevation)
    return pose, project(reference_face(size).five, pose, size)


DEBIAS_ROUNDS = 4  # the drift depends on the yaw it corrects: a few fixed-point rounds settle it (within 0.1 deg)


def detector_landmarks(five: np.ndarray, size: int) -> np.ndarray:
    """MTCNN's five points in a crop (``size`` px, aligned as preparation aligns) with their drift towards a frontal
    layout taken out (face/mtcnn_error.py ``turning_bias``): the points a pose should be fitted to.  The drift is
    a function of the yaw, so the yaw is fitted, the drift at that yaw removed, and again.  Points no pose fits are
    returned as they are.

    Measured on Pointing'04's real faces (docs/real_faces.md): the median error of the fitted yaw against the label
    at |yaw| 60 / 75 / 90 falls from 10.6 / 19.3 / 29.0 degrees to 7.8 / 11.1 / 8.1; but the drift SynthPIE taught
    is larger than a real face's, so the corrected points lie beyond the real profile and the warp samples the
    background: dlib's rank-1 of the warp falls (an option, off by default)."""
    from frontalize.face.mtcnn_error import MEASURED_AT, turning_bias

    points = np.asarray(five, np.float64)
    corrected = points
    for _ in range(DEBIAS_ROUNDS):
        try:
            yaw = estimate_pose(corrected, size).angles[0]
        except PoseError:
            return points
        corrected = points - turning_bias(yaw) * (size / MEASURED_AT)
    return corrected


def frontal_pose(size: int) -> Pose:
    """The reference seen from the front, filling the template exactly."""
    return Pose(np.eye(3), np.array([0.0, 0.0, FOCAL_CROPS * size]))


def poses_of(landmarks: list[np.ndarray], yaws: list[float], size: int, elevations: list[float] | None = None) -> np.ndarray:
    """(B, 12) pose vectors for crops' five landmarks (a set no pose fits falls back to the camera's yaw)."""
    elevations = elevations or [0.0] * len(yaws)
    return np.stack([crop_pose(lm, size, exact=True, yaw=yaw, elevation=e)[0].as_vector()
                     for lm, yaw, e in zip(landmarks, yaws, elevations)])


def row_poses(rows: list[dict], size: int) -> np.ndarray:
    """(B, 12) pose vectors of manifest rows, from their stored landmarks and their cameras' elevations."""
    return poses_of([row_landmarks(r) for r in rows], [float(r["yaw"]) for r in rows], size,
                    [float(CAMERA_BY_NAME[r["camera"]].elevation) for r in rows])
