"""`frontalize infer --check-identity`: each output against its own input photo, judged by dlib (face/dlib_identity.py).

Where the face is: no detection, on either side.  Outputs (and input crops) are in the template layout, so the
face's box is a constant of the template, ``FACE_BOX`` (data/template.py): where dlib's HOG detector puts its box on template-aligned
frontal faces (measured at 256 px on the three real photos of bench/identity.py and six SynthPIE faces: x 0.18-0.79,
y 0.32-0.92 of the side; made symmetric here).  The input photo's face is the same box carried back through the
alignment that made the input crop, so it is described at the photo's own resolution.  Why not dlib's detector:
it finds frontal faces only, so it would miss the turned heads frontalization is for, and its misses would read as
identity failures; the box also names the very face that was frontalized when a photo holds several.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from frontalize.data.images import ImageProblem, read_photo, read_rgb
from frontalize.data.template import crop_face_box
from frontalize.face.dlib_identity import SAME_PERSON, DlibJudge, distance

MIN_INSIDE = 0.5  # a photo's face box must lie at least this much inside the photo to be described


def photo_face_box(matrix: np.ndarray, size: int) -> tuple[float, float, float, float]:
    """``FACE_BOX`` of a crop, in the photo it was cut from (``matrix``: photo -> crop similarity).  A square about the
    box's centre carried back, upright: dlib's predictor expects a detector's upright box, and finds the roll itself."""
    x0, y0, x1, y1 = crop_face_box(size)
    a = np.asarray(matrix, np.float64)[:, :2]
    centre = np.linalg.solve(a, np.array([(x0 + x1) / 2, (y0 + y1) / 2]) - matrix[:, 2])
    half = (x1 - x0) / 2 / np.sqrt(abs(np.linalg.det(a)))
    return centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half


def share_inside(box, shape) -> float:
    x0, y0, x1, y1 = box
    h, w = shape[:2]
    inside = max(0.0, min(x1, w) - max(x0, 0)) * max(0.0, min(y1, h) - max(y0, 0))
    return inside / max((x1 - x0) * (y1 - y0), 1e-9)


@dataclass
class FaceIdentity:
    source: Path
    output: Path
    distance: float | None  # None: dlib could not describe one of the two faces
    problem: str = ""

    @property
    def same_person(self) -> bool:
        return self.distance is not None and self.distance < SAME_PERSON

    def line(self) -> str:
        if self.distance is None:
            return f"identity {self.output.name}: not described ({self.problem})"
        verdict = "same person" if self.same_person else "not the same person"
        return f"identity {self.output.name}: distance {self.distance:.3f} to {self.source} ({verdict} by dlib's {SAME_PERSON} line)"


@dataclass
class IdentitySummary:
    faces: int
    described: int
    median: float | None
    share_same: float | None

    @property
    def undescribed(self) -> int:
        return self.faces - self.described

    def line(self) -> str:
        if not self.described:
            return f"identity (dlib, independent of training): none of {self.faces} faces could be described"
        return (f"identity (dlib, independent of training): {self.described} faces, median distance {self.median:.3f}, "
                f"{100 * self.share_same:.0f} % under {SAME_PERSON}" + (
                    f"; {self.undescribed} faces dlib could not describe" if self.undescribed else ""))


def summarise(results: list[FaceIdentity]) -> IdentitySummary:
    d = [r.distance for r in results if r.distance is not None]
    if not d:
        return IdentitySummary(len(results), 0, None, None)
    return IdentitySummary(len(results), len(d), float(np.median(d)), float(np.mean(np.array(d) < SAME_PERSON)))


def photo_descriptor(judge: DlibJudge, photo: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    box = photo_face_box(matrix, size)
    if share_inside(box, photo.shape) < MIN_INSIDE:
        raise ImageProblem("the face's box lies mostly outside the photo")
    return judge.describe(photo, box)


def check_identity(judge: DlibJudge, faces: list[tuple[Path, np.ndarray, Path]], size: int,
                   on_face: Callable[[FaceIdentity], None] = lambda _: None) -> IdentitySummary:
    """``faces``: (input photo, its photo -> crop matrix, the written output) per frontalized face."""
    results, photo, photo_path = [], None, None
    for source, matrix, output in faces:
        try:
            if source != photo_path:  # a photo's faces come together: read it once
                photo, photo_path = read_photo(source), source
            mine = photo_descriptor(judge, photo, matrix, size)
            theirs = judge.describe(read_rgb(output), crop_face_box(size))
            if not (np.all(np.isfinite(mine)) and np.all(np.isfinite(theirs))):
                raise ImageProblem("dlib's descriptor is not finite")
            result = FaceIdentity(source, output, distance(mine, theirs))
        except (ImageProblem, RuntimeError) as e:  # dlib raises RuntimeError on images it cannot take
            result = FaceIdentity(source, output, None, str(e))
        results.append(result)
        on_face(result)
    return summarise(results)
