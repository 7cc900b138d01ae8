"""The SynthPIE studio: where the cameras and flashes stand, and how a shot is framed.

Modelled on the Multi-PIE dome: cameras on an arc at head height plus two
raised ones (their yaws come from frontalize.data.multipie), eighteen flashes
(one beside each camera, three overhead) and room light in every shot.  The
flash positions follow the camera arc in flash-number order, with 07 at the
frontal camera; they model Multi-PIE's flashes, they are not a survey of them.

Everything drawn here is independent of the subject: framing, head pose
jitter, the light's exposure and colour balance come from fixed studio tables
or from per-recording, per-view or per-image random streams, never from the
subject's parameters.  What a photograph adds beyond the studio (background,
clothing, the room's light, the camera's blur, noise and JPEG) is photo.py's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frontalize.data.multipie import CAMERA_BY_NAME, CAMERAS, NO_FLASH_SHOTS
from frontalize.synthpie.render import CameraModel, direction

# Flash number -> (yaw, elevation) in degrees; 00 and 19 fire no flash.
FLASH_POSITIONS: dict[int, tuple[float, float]] = {
    **{i + 1: (cam.yaw, 0.0) for i, cam in enumerate(c for c in CAMERAS if c.elevation == 0)},  # 01-13
    14: (-45.0, 25.0),  # beside the raised camera 08_1
    15: (45.0, 25.0),  # beside the raised camera 19_1
    16: (-30.0, 55.0),  # overhead
    17: (0.0, 60.0),
    18: (30.0, 55.0),
}
assert set(FLASH_POSITIONS) | set(NO_FLASH_SHOTS) == set(range(20))
assert FLASH_POSITIONS[7] == (0.0, 0.0), "flash 07 must be the frontal flash"


def mirror_flash(flash: int) -> int:
    """The flash standing where ``flash``'s mirror image across the face's midline stands (00/19 fire none)."""
    if flash in NO_FLASH_SHOTS:
        return flash
    yaw, elev = FLASH_POSITIONS[flash]
    return next(f for f, (y, e) in FLASH_POSITIONS.items() if y == -yaw and e == elev)

def azimuth(table_yaw: float) -> float:
    """The renderer's azimuth (positive towards the subject's left, the head frame's +x) of a Multi-PIE camera yaw.

    Multi-PIE's positive yaws stand on the subject's right: 24_0 (+90) sees the right profile, the nose pointing
    to the image's right (data/multipie.py, with the public codebases that show it)."""
    return -table_yaw


CAMERA_DISTANCE = 12.0  # head units (about 1.1 m)
HEAD_FRACTION = 0.62  # vertex-to-chin height over image height at the nominal distance


@dataclass(frozen=True)
class RecordingPose:
    """How the subject held their head during one recording (all cameras fire together)."""

    yaw: float
    pitch: float
    roll: float
    shift: tuple[float, float, float]
    distance_scale: float


def recording_pose(rng: np.random.Generator) -> RecordingPose:
    return RecordingPose(
        yaw=float(rng.normal(0, 2.0)),
        pitch=float(rng.normal(0, 2.5)),
        roll=float(rng.normal(0, 2.0)),
        shift=tuple(float(x) for x in rng.normal(0, 0.04, 3)),
        distance_scale=float(rng.uniform(0.96, 1.04)),
    )


# Framing: how tightly a camera view is cropped and where the head sits in it, as photographs differ.  Drawn per
# view (its flashes share their geometry: one landmark sidecar, one subject mask) from the view's own stream.
FRAMING_SCALE = (0.88, 1.2)  # focal length factor, log-uniform: the head 0.55-0.74 of the frame's height
FRAMING_SHIFT = 0.06  # the optical axis moves up to this fraction of the width and of the height


@dataclass(frozen=True)
class Framing:
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)  # fractions of the width and height; the picture moves with it


def draw_framing(rng: np.random.Generator) -> Framing:
    lo, hi = np.log(FRAMING_SCALE)
    return Framing(float(np.exp(rng.uniform(lo, hi))), tuple(float(x) for x in rng.uniform(-1, 1, 2) * FRAMING_SHIFT))


def camera_model(camera: str, width: int, height: int, pose: RecordingPose,
                 framing: Framing = Framing()) -> CameraModel:
    cam = CAMERA_BY_NAME[camera]
    focal = HEAD_FRACTION * height * CAMERA_DISTANCE / 2.3
    return CameraModel(
        yaw=azimuth(cam.yaw),
        elevation=cam.elevation,
        distance=CAMERA_DISTANCE * pose.distance_scale,
        focal_px=focal * framing.scale,
        width=width,
        height=height,
        principal=(framing.shift[0] * width, framing.shift[1] * height),
    )


# Colour of the light on the subject.  The subject, lit mostly by the xenon flashes, takes a small cast that
# differs by camera (each sensor's response to the flash spectrum) and by flash unit; the background does not (it
# is lit by the room; each image's own white balance and exposure cover the whole frame, photo.py).
# Fixed tables, the same for every subject and every dataset (a studio property, drawn once from a constant seed).
CAMERA_CAST_RANGE = 0.04
FLASH_CAST_RANGE = 0.03
# Shot to shot, the light reaching the subject changes too (flash output, the subject's distance to it).  Together
# with the casts this variation, not a per-subject property, is what keeps a colour histogram from telling
# neighbouring skin tones apart (leak.py, issue #13).
EXPOSURE_JITTER = 0.12  # relative
COLOUR_JITTER = 0.03  # relative, per channel


def _casts(n: int, spread: float, seed: int) -> np.ndarray:
    return 1 + np.random.default_rng(seed).uniform(-spread, spread, (n, 3))


CAMERA_CAST = dict(zip((c.name for c in CAMERAS), _casts(len(CAMERAS), CAMERA_CAST_RANGE, 1501)))
FLASH_CAST = dict(zip(range(20), _casts(20, FLASH_CAST_RANGE, 1502)))


def shot_gain(rng: np.random.Generator, camera: str, flash: int) -> np.ndarray:
    """Exposure and colour balance of the light on the subject in one shot, per RGB channel.

    The camera's and the flash's casts are fixed; the jitter comes from the image's own random stream.
    """
    exposure = rng.uniform(1 - EXPOSURE_JITTER, 1 + EXPOSURE_JITTER)
    jitter = 1 + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3)
    return (exposure * jitter * CAMERA_CAST[camera] * FLASH_CAST[flash]).astype(np.float32)


def flash_direction(flash: int) -> np.ndarray | None:
    if flash in NO_FLASH_SHOTS:
        return None
    yaw, elev = FLASH_POSITIONS[flash]
    return direction(azimuth(yaw), elev)
