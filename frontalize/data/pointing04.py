"""Pointing'04 (INRIA Head Pose Image Database): real people across the yaw range, read for the real-face benchmark.

N. Gourier, D. Hall, J. L. Crowley, Estimating Face Orientation from Robust Detection of Salient Facial Features,
Pointing 2004, ICPR Workshop on Visual Observation of Deictic Gestures.  The licence asks that every document
reporting figures on it cites that article.

Layout (the project's copy, ``third_party/pointing04`` for the tilt-0 frames, ``shared/data/pointing04`` for all):
``labels.csv`` with one row per frame, ``file, person, series, tilt, pan, face_x, face_y, face_w, face_h`` (the
database's face box, top-left corner and size), the frames in ``personPP/``.  Yaw follows Multi-PIE's sign
(data/multipie.py: positive puts the nose on the image's right): **yaw = -pan**.  The pan labels are where the
person was asked to look, not a measured head pose.

Protocol (``split``): the gallery is each person's series-1 frontal frame (pan 0) at the chosen tilt; every other
frame at that tilt is a probe, the series-2 frontal frame included.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

VENDORED = Path(__file__).resolve().parents[2] / "third_party" / "pointing04"  # the tilt-0 frames, in the repository
LABELS = "labels.csv"
FIELDS = ("file", "person", "series", "tilt", "pan", "face_x", "face_y", "face_w", "face_h")
CITATION = ("N. Gourier, D. Hall, J. L. Crowley, Estimating Face Orientation from Robust Detection of Salient Facial "
            "Features, Proceedings of Pointing 2004, ICPR, International Workshop on Visual Observation of Deictic "
            "Gestures, Cambridge, UK")
GALLERY_SERIES = 1
TIGHT_SIZE = 128  # published frontalization crops come as small squares about the face
TIGHT_MARGIN = 1.15  # the tight square's side in the face box's larger side


class Pointing04Error(ValueError):
    """A folder that is not a Pointing'04 copy this module can read; the message says what is wrong."""


@dataclass(frozen=True)
class Frame:
    path: Path
    person: int
    series: int
    tilt: int
    pan: int
    face_box: tuple[float, float, float, float]  # x0, y0, x1, y1 (the database's)

    @property
    def yaw(self) -> int:
        """Multi-PIE's sign: the database's pan turned round."""
        return -self.pan

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Frames:
    frames: list[Frame]
    missing: list[str]  # files the labels name that are not on disk (counted, never silently dropped)


def default_root() -> Path:
    return VENDORED


def read_frames(root: Path, tilt: int = 0) -> Frames:
    """The frames of ``tilt`` that ``labels.csv`` lists, in file order, and the listed files that are absent."""
    root = Path(root)
    labels = root / LABELS
    if not root.is_dir():
        raise Pointing04Error(f"{root}: no such folder (a Pointing'04 copy holds {LABELS} and personPP/ folders)")
    if not labels.is_file():
        raise Pointing04Error(f"{root} has no {LABELS}: expected a Pointing'04 copy with a label file "
                              f"({', '.join(FIELDS)})")
    with open(labels, newline="") as f:
        reader = csv.DictReader(f)
        absent = [k for k in FIELDS if k not in (reader.fieldnames or [])]
        if absent:
            raise Pointing04Error(f"{labels} lacks the columns {', '.join(absent)}")
        frames, missing = [], []
        for line, row in enumerate(reader, start=2):
            try:
                values = {k: int(row[k]) for k in FIELDS[1:]}
            except (TypeError, ValueError):
                raise Pointing04Error(f"{labels}, line {line}: not a number in {row}") from None
            if values["tilt"] != tilt:
                continue
            path = root / row["file"]
            if not path.is_file():
                missing.append(row["file"])
                continue
            x, y, w, h = values["face_x"], values["face_y"], values["face_w"], values["face_h"]
            frames.append(Frame(path, values["person"], values["series"], tilt, values["pan"], (x, y, x + w, y + h)))
    if not frames:
        raise Pointing04Error(f"{labels} lists no frame at tilt {tilt} that is on disk"
                              + (f" ({len(missing)} listed files are missing)" if missing else ""))
    return Frames(frames, missing)


def split(frames: list[Frame]) -> tuple[dict[int, Frame], list[Frame]]:
    """The gallery (person -> series-1 frontal frame) and the probes (every other frame of a person in the gallery)."""
    gallery = {f.person: f for f in frames if f.series == GALLERY_SERIES and f.pan == 0}
    probes = [f for f in frames if gallery.get(f.person) is not f]
    return gallery, probes


def tight_square(face_box, frame_shape, margin: float = TIGHT_MARGIN) -> tuple[int, int, int]:
    """(x0, y0, side) in whole pixels of a square of ``margin`` times the box's larger side about its centre, moved
    inside the frame (shrunk only where the frame is smaller than the square)."""
    x0, y0, x1, y1 = face_box
    h, w = frame_shape[:2]
    side = int(round(min(margin * max(x1 - x0, y1 - y0), w, h)))
    left = int(np.clip(round((x0 + x1) / 2 - side / 2), 0, w - side))
    top = int(np.clip(round((y0 + y1) / 2 - side / 2), 0, h - side))
    return left, top, side


def tight_crop(rgb: np.ndarray, face_box, size: int = TIGHT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The tight ``size``-px face crop of a frame and the 2x3 matrix frame -> crop (how published crops are cut)."""
    left, top, side = tight_square(face_box, rgb.shape)
    square = rgb[top : top + side, left : left + side]
    crop = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
    k = size / side  # pixel centres at integers: x_crop = (x - left + 0.5) * k - 0.5
    matrix = np.array([[k, 0.0, (0.5 - left) * k - 0.5], [0.0, k, (0.5 - top) * k - 0.5]])
    return np.ascontiguousarray(crop), matrix
