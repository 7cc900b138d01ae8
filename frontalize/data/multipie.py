"""CMU Multi-PIE conventions: cameras, flashes, recordings and file naming.

This module is the single place where the dataset's conventions are written
down; everything else (SynthPIE, preparation, protocols) imports them.

Yaw sign convention (used everywhere in frontalize: the pose fit, the warp,
SynthPIE's studio): yaw is the camera's azimuth around the subject in degrees,
0 for the frontal camera 05_1, negative for 11_0 ... 14_0, positive for
05_0 ... 24_0, as in the table below.  A positive-yaw camera stands on the
subject's right: it sees the right cheek and the nose points to the image's
right (24_0 shows the right profile).  Checked against public code (not
asserted from memory):
  - HRLTY/TP-GAN net_input_everything_featparts.py, ``cameraPositions``:
    '24_0': +90 ... '05_1': 0 ... '11_0': -90, the same 13 values; its
    data-example crops show the nose to the image's left for 14_0 ... 12_0
    and to the right for 05_0 ... 01_0, with no flip in its crop script;
  - csyxwei/FFWM data_process/process.py ``camera2ang`` and yh-iro/Keras_TP-GAN
    keras_tpgan/multipie_gen.py ``ANGLE_DIR``: the same values and sign;
  - Idiap's bob.db.multipie script/crop_faces.py labels 11_0 'l90' and 24_0
    'r90' and places the left-side cameras' (09_0, 11_0, 12_0) eyes on the
    crop's left.
Pose estimators trained on 300W-LP / 3DDFA use the opposite sign for yaw.
The raised cameras 08_1 and 19_1 (Gross et al., IVC 2010: two cameras above
the subject, a surveillance view) are the ones Idiap's create.py and FFWM
list apart from the head-height arc.  No public source gives their elevation,
and their azimuth is disputed (FFWM: 08_1 -30, 19_1 +45; Idiap: "quarter
profile from above"): the +-45 and 20 degrees below are this project's model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Camera:
    name: str  # as in the folder name, e.g. "05_1"
    yaw: int  # degrees, see the module docstring for the sign
    elevation: int  # degrees above head height (0 for the 13-camera arc)

    @property
    def code(self) -> str:
        """The camera as written in file names: 05_1 -> 051."""
        return self.name.replace("_", "")


# The 13 head-height cameras from one profile to the other, then the two raised ones.
# The raised cameras 08_1 and 19_1 look down on the subject from above 08_0 and 19_0.
CAMERAS: tuple[Camera, ...] = (
    Camera("11_0", -90, 0),
    Camera("12_0", -75, 0),
    Camera("09_0", -60, 0),
    Camera("08_0", -45, 0),
    Camera("13_0", -30, 0),
    Camera("14_0", -15, 0),
    Camera("05_1", 0, 0),
    Camera("05_0", 15, 0),
    Camera("04_1", 30, 0),
    Camera("19_0", 45, 0),
    Camera("20_0", 60, 0),
    Camera("01_0", 75, 0),
    Camera("24_0", 90, 0),
    Camera("08_1", -45, 20),
    Camera("19_1", 45, 20),
)
CAMERA_BY_NAME = {c.name: c for c in CAMERAS}
CAMERA_BY_CODE = {c.code: c for c in CAMERAS}
FRONTAL_CAMERA = "05_1"
HEAD_HEIGHT_CAMERAS = tuple(c.name for c in CAMERAS if c.elevation == 0)

# The columns of every rank-1 and image-quality table: one per camera, labelled by its yaw ("-45", "0", "+45"),
# the raised cameras apart with an arrow ("-45↑", "+45↑"): a view from 20 degrees above is not the head-height
# view of the same yaw, so the two are never averaged into one column.  Order: the head-height yaws ascending,
# then the raised ones (the papers' tables are the head-height arc; the raised views come after it).
RAISED = "↑"
ALL_COLUMN = "all"  # every probe once


def camera_column(camera: str) -> str:
    """The table column of a camera: 08_0 -> "-45", 05_1 -> "0", 19_1 -> "+45↑"."""
    c = CAMERA_BY_NAME[camera]
    return (f"{c.yaw:+d}" if c.yaw else "0") + (RAISED if c.elevation else "")


COLUMNS: tuple[str, ...] = tuple(camera_column(c.name) for c in CAMERAS)  # CAMERAS is already in table order


def column_order(column: str) -> int:
    """Sort key of a table column: the cameras' order, then "all" last (unknown labels after it)."""
    if column in COLUMNS:
        return COLUMNS.index(column)
    return len(COLUMNS) + (column != ALL_COLUMN)


def column_yaw(column: str) -> int:
    """The yaw a column shows ("+45↑" -> 45)."""
    return int(column.rstrip(RAISED))


def is_raised(column: str) -> bool:
    return column.endswith(RAISED)

# Shots 00-19 of a recording: 00 and 19 fire no flash (room light only),
# 01-18 fire one flash each.  07 is the frontal flash, our default gallery light.
FLASHES: tuple[int, ...] = tuple(range(20))
NO_FLASH_SHOTS = (0, 19)
FRONTAL_FLASH = 7

# Recordings per session and the expression each one shows.
RECORDINGS: dict[int, dict[int, str]] = {
    1: {1: "neutral", 2: "smile"},
    2: {1: "neutral", 2: "surprise", 3: "squint"},
    3: {1: "neutral", 2: "smile", 3: "disgust"},
    4: {1: "neutral", 2: "neutral", 3: "scream"},
}
SESSIONS = tuple(RECORDINGS)

# Multi-PIE's real sizes, used to scale protocol subject counts to smaller datasets.
MULTIPIE_SUBJECTS = 337
MULTIPIE_SESSION01_SUBJECTS = 249
# Attendance (Gross et al., IVC 2010): subjects per session, how many came to all four, and the highest subject id
# (ids run 001-346 with gaps: 337 people)
MULTIPIE_SESSION_SUBJECTS: dict[int, int] = {1: 249, 2: 203, 3: 230, 4: 239}
MULTIPIE_ALL_SESSIONS_SUBJECTS = 129
MULTIPIE_LAST_SUBJECT_ID = 346


def expression(session: int, recording: int) -> str:
    return RECORDINGS[session][recording]


@dataclass(frozen=True)
class ShotId:
    """One Multi-PIE image: subject, session, recording, camera and flash."""

    subject: int
    session: int
    recording: int
    camera: str  # e.g. "05_1"
    flash: int

    @property
    def yaw(self) -> int:
        return CAMERA_BY_NAME[self.camera].yaw

    @property
    def filename(self) -> str:
        cam = CAMERA_BY_NAME[self.camera].code
        return f"{self.subject:03d}_{self.session:02d}_{self.recording:02d}_{cam}_{self.flash:02d}.png"

    @property
    def relpath(self) -> Path:
        """Path below the Multi-PIE root (the folder that holds ``data/``)."""
        return (
            Path("data")
            / f"session{self.session:02d}"
            / "multiview"
            / f"{self.subject:03d}"
            / f"{self.recording:02d}"
            / self.camera
            / self.filename
        )

    def frontal_target(self) -> "ShotId":
        """The frontal image with the same subject, session, recording and flash."""
        return ShotId(self.subject, self.session, self.recording, FRONTAL_CAMERA, self.flash)


_NAME = re.compile(r"^(\d{3})_(\d{2})_(\d{2})_(\d{3})_(\d{2})\.png$")


def parse_filename(name: str) -> ShotId:
    """Parse ``001_01_01_051_07.png``; raises ValueError on anything else."""
    m = _NAME.match(name)
    if not m:
        raise ValueError(f"not a Multi-PIE image name: {name!r} (expected SSS_ss_rr_ccc_ff.png)")
    subject, session, recording, code, flash = m.groups()
    if code not in CAMERA_BY_CODE:
        raise ValueError(f"unknown Multi-PIE camera code {code!r} in {name!r}")
    shot = ShotId(int(subject), int(session), int(recording), CAMERA_BY_CODE[code].name, int(flash))
    if shot.session not in RECORDINGS or shot.recording not in RECORDINGS[shot.session]:
        raise ValueError(f"session {shot.session} has no recording {shot.recording}: {name!r}")
    if shot.flash not in FLASHES:
        raise ValueError(f"flash {shot.flash} outside 00-19: {name!r}")
    return shot


def parse_relpath(path: Path) -> ShotId:
    """Parse a path below the root and check that the folders agree with the file name."""
    shot = parse_filename(path.name)
    expected = (f"session{shot.session:02d}", "multiview", f"{shot.subject:03d}", f"{shot.recording:02d}", shot.camera)
    if tuple(path.parts[-6:-1]) != expected:
        raise ValueError(f"{path}: folders do not match the file name (expected .../{'/'.join(expected)}/)")
    return shot
