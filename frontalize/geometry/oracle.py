"""Oracles for SynthPIE crops: the head's true pose, and the subject's own head as the reference face.

Neither exists for a photo.  They split what the warp gets wrong (bench/warp_losses.py): the warp as shipped
estimates the pose from five landmarks and warps with the mean head; with the true pose, what is left of the
error is the shape; with the subject's own head, it is the pose estimate and what no shape explains (shading of
mirrored parts, what lies outside the face).

The true rotation of a crop is the renderer's (synthpie/render.py): a camera of Multi-PIE's table looking at a head
turned by the recording's pose (the view's sidecar), turned in the image plane as preparation's similarity turned
the crop (recovered from the sidecar's landmarks and the crop's), and turned so that the head keeps its angle to the
line of sight in the warp's crop camera.  Only the translation is fitted: where the head sits in the crop and,
through its depth, how large it is.  Two true poses: the head's own (``true_pose``: the warp shows the head from
straight ahead), and the probe's relative to its frontal target's, with the reference turned as the target shows
the head (``pose_as_target_shows``: the warp shows the head as the target does; what a warp scored against that
target must do, since each recording turns the head by a few degrees in every camera, the target's included).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from skimage.transform import SimilarityTransform

from frontalize.data.multipie import CAMERA_BY_NAME, parse_relpath
from frontalize.geometry.pose import Pose, camera_matrix, camera_rotation, pose_with_rotation, rotation_from_angles
from frontalize.geometry.reference import ReferenceFace, reference_face, reference_from_heads, resampled, turned
from frontalize.synthpie import studio
from frontalize.synthpie.generate import landmark_path, read_sidecar, subject_params
from frontalize.synthpie.head import NEUTRAL, Expression, Head

CROP_FIT_TOLERANCE = 0.05  # crop pixels: the crop's landmarks are the sidecar's under one similarity (2 decimals kept)


class OracleError(ValueError):
    pass


def sidecar_of(synthpie_root: Path, source_path: str) -> dict:
    """The landmark sidecar of a prepared row's source image (``source_path``: relative to the tree's data folder)."""
    path = Path(synthpie_root) / landmark_path(parse_relpath(Path(source_path)))
    if not path.exists():
        raise OracleError(f"no SynthPIE landmark sidecar at {path}: is {synthpie_root} the tree these crops came from?")
    return read_sidecar(path)


def recording_rotation(head_pose: dict, camera: str) -> np.ndarray:
    """The rotation (template frame -> the camera's, uncropped) of the head in a sidecar's ``head_pose``, seen by
    ``camera``.

    The sidecar's yaw is in the camera table's convention (a camera's yaw to the head is camera.yaw - yaw); its
    pitch and roll are the renderer's, about the head frame's axes (y up, z forward).  The template frame turns
    that frame half a turn about x (y down, z away): a rotation about x keeps its angle, ones about y and z change
    sign, so the head's turn is ``rotation_from_angles(-yaw, pitch, -roll)`` in geometry/pose.py's convention.
    """
    cam = CAMERA_BY_NAME[camera]
    return camera_rotation(cam.yaw, cam.elevation) @ rotation_from_angles(-head_pose["yaw"], head_pose["pitch"],
                                                                         -head_pose["roll"])


def crop_similarity(image_points: np.ndarray, crop_points: np.ndarray) -> np.ndarray:
    """The 3x3 similarity that took the image to the crop, from the same landmarks in both."""
    src, dst = np.asarray(image_points, np.float64), np.asarray(crop_points, np.float64)
    tf = SimilarityTransform.from_estimate(src, dst)
    if not tf or np.abs(tf(src) - dst).max() > CROP_FIT_TOLERANCE:
        raise OracleError("the crop's landmarks are not the sidecar's under one similarity: not a crop of this view")
    return tf.params


def image_camera(sidecar: dict, camera: str) -> np.ndarray:
    """The intrinsic matrix of the camera that rendered the view (pixel centres at integers, as the sidecar's): the
    sidecar's own (v4 on: each view is framed), else the studio's nominal one."""
    if "camera" in sidecar:
        f, (cx, cy) = sidecar["camera"]["focal_px"], sidecar["camera"]["principal_point"]
        return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    width, height = sidecar["image_size"]
    cam = studio.camera_model(camera, width, height, studio.RecordingPose(0.0, 0.0, 0.0, (0.0, 0.0, 0.0), 1.0))
    return np.array([[cam.focal_px, 0.0, width / 2 - 0.5], [0.0, cam.focal_px, height / 2 - 0.5], [0.0, 0.0, 1.0]])


def _turn_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction ``a`` to direction ``b``."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(a @ b)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


@dataclass(frozen=True)
class CropView:
    """A prepared crop of a SynthPIE view: its sidecar, its camera and its five landmarks in crop pixels."""

    sidecar: dict
    camera: str
    landmarks: np.ndarray

    def rotation(self, size: int, upright_roll: float = 0.0) -> np.ndarray:
        """The head's true rotation as the warp's crop camera (geometry/pose.py) must see it to show it as the crop does.

        The renderer's rotation, turned in the image plane as the crop was and as a reference's alignment turned its
        heads (``upright_roll``, ReferenceFace's); then turned so that the head keeps its angle to the line of sight.
        The crop camera looks along the crop's centre; the studio camera looked at the head's centre, and the crop
        is cut around the face, which sits off that axis (most at +-45 degrees, where the face is beside the head's
        centre): measured on `tiny`, this turn is 1-3 degrees, and without it SynthPIE's 68 landmarks of the
        subject's own head reproject 0.5 px off at +-45 degrees, 0.12 px with it.
        """
        crop = crop_similarity(np.asarray(self.sidecar["five"]), self.landmarks)
        in_plane = rotation_from_angles(0, 0, float(np.degrees(np.arctan2(crop[1, 0], crop[0, 0]))))
        head = in_plane @ recording_rotation(self.sidecar["head_pose"], self.camera) @ rotation_from_angles(0, 0, -upright_roll)
        centre = np.array([*np.asarray(self.landmarks, np.float64).mean(0), 1.0])  # the face's centre in the crop
        seen = in_plane @ np.linalg.solve(crop @ image_camera(self.sidecar, self.camera), centre)
        modelled = np.linalg.solve(camera_matrix(size), centre)
        return _turn_between(seen, modelled) @ head


def true_pose(view: CropView, size: int, reference: ReferenceFace | None = None) -> Pose:
    """The crop's pose of ``reference`` (default: the mean) with the head's true rotation; only the translation is
    fitted.  The warp then shows the head as seen from straight ahead, not turned as the recording turned it."""
    ref = reference_face(size) if reference is None else reference
    return pose_with_rotation(view.rotation(size, ref.upright_roll), view.landmarks, size, ref)


def pose_as_target_shows(view: CropView, target: CropView, size: int,
                         reference: ReferenceFace | None = None) -> tuple[Pose, ReferenceFace]:
    """The reference turned as the frontal ``target`` shows the head (reference.turned), and the crop's pose of it:
    the crop's true rotation relative to the target's (the recording's head turn cancels), translation fitted.

    What a warp scored against that target must use: the head in each SynthPIE recording is turned a little
    (about 2 degrees of yaw, pitch and roll), in the target as in the probe, and a warp with the head's own pose
    would show it untouched by that turn."""
    ref = reference_face(size) if reference is None else reference
    shown = true_pose(target, size, ref)
    posed = turned(ref, shown.rotation, shown.translation)
    relative = view.rotation(size, ref.upright_roll) @ shown.rotation.T
    return pose_with_rotation(relative, view.landmarks, size, posed), posed


@lru_cache(maxsize=512)
def subject_reference(seed: int, subject: int, size: int, expression: Expression = NEUTRAL) -> ReferenceFace:
    """The reference face built from one SynthPIE subject's own head (as the mean is built from 32 heads)."""
    return resampled(reference_from_heads([Head(subject_params(seed, subject), expression)]), size)
