"""Write a photo-pairs tree: Multi-PIE's layout, one subject per frontal photograph, its other views turned from it.

Two passes.  The survey reads every photo (sorted by path), finds its largest face with MTCNN on a downscaled copy
(``Frontalizer.detect``, as ``frontalize infer`` finds it), aligns it to the template with the five-point fit (as
preparation aligns camera 05_1's images) and fits the reference head's pose to the five points.  A face whose fitted
|yaw| is at most ``MAX_PHOTO_YAW`` becomes a subject (ids 001... in that order); a photo that cannot be read, shows no
face, or shows one that is not frontal is skipped, and the marker says why.  The marker (data/pairs_tree.py) is
written then, with the five points each subject is rendered from.  The render writes each subject's 13 head-height
views (geometry/turn.py: camera 05_1 is the photo's aligned face itself, every other view its head turned by the
camera's yaw with the reference head), a SynthPIE landmark sidecar and an unknown-pixel mask per view.  A re-run of the
same photos reads the marker instead of surveying again and renders only the subjects whose files are not all there,
so an interrupted run resumes and a finished one changes nothing.

Frames are square, ``size`` px, the template crop (data/template.py): the head keeps the photo's scale and place in
every view, so preparation's alignment (the five-point fit at 05_1, the eye-mouth axis elsewhere, which keeps its
length as a head turns) finds it where it finds SynthPIE's.

The round trip (issue 27) is not rendered: a photo that is not frontal supervises its own round trip (turned to the
front and back) with itself as the target, at its own pose; this layout's targets are frontal (camera 05_1) and
training pairs each view with them, so such a target has no place in the tree.  Non-frontal photos are skipped.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from tqdm import tqdm

from frontalize import __version__
from frontalize.data.align import AlignmentError, frontal_transform, transform_points, warp
from frontalize.data.images import ImageProblem, read_photo, write_png
from frontalize.data.landmarks import FIVE_POINTS
from frontalize.data.multipie import CAMERA_BY_NAME, FRONTAL_FLASH, HEAD_HEIGHT_CAMERAS, ShotId
from frontalize.data.pairs_tree import (
    MARKER, MARKER_FORMAT, MARKER_VERSION, UNKNOWN_SUFFIX, UNSEEN_HEAD, UNSEEN_SCENE, dataset_name, read_marker,
)
from frontalize.geometry.pose import Pose, PoseError, crop_pose
from frontalize.geometry.turn import FrontalCrop, TurnedView
from frontalize.inference.frontalizer import inside_mask
from frontalize.geometry.reference import FOCAL_CROPS
from frontalize.synthpie.generate import FORMAT_VERSION as SIDECAR_VERSION
from frontalize.synthpie.generate import landmark_path
from frontalize.utils.io import atomic_write_bytes, atomic_write_text

MAX_PHOTO_YAW = 15.0  # degrees: the neighbouring cameras' yaw; a face turned further is no frontal target
DEFAULT_SIZE = 256
MAX_SUBJECTS = 999  # Multi-PIE's subject ids have three digits
SESSION, RECORDING = 1, 1  # session 01, recording 01 (neutral): what setting1 and session01 train on
ROUND_TRIP = ("not rendered: a photo that is not frontal would supervise its own round trip (turned to the front and "
              "back) at its own pose, and this layout's targets are frontal (camera 05_1); such photos are skipped")


class PairsError(RuntimeError):
    """A problem the user must fix: the output folder, a tree of other photos or another size."""


@dataclass
class PhotoEntry:
    """One input photo as the marker records it."""

    path: str
    bytes: int | None
    sha256: str | None
    image_size: list[int] | None = None  # width, height
    subject: int | None = None  # the subject it became; None: skipped
    skipped: str | None = None  # why it is no subject
    pose: dict | None = None  # the fitted head pose in its aligned crop (degrees)
    five: list | None = None  # MTCNN's five points in the photo: what its views are rendered from

    @classmethod
    def from_dict(cls, d: dict) -> "PhotoEntry":
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})


@dataclass
class PairsSummary:
    out: Path
    size: int
    flash: int
    photos: list[PhotoEntry]
    rendered: list[int] = field(default_factory=list)  # subjects rendered by this run
    finished_before: list[int] = field(default_factory=list)  # subjects a previous run had finished
    seconds: float = 0.0  # survey and render of this run

    @property
    def subjects(self) -> list[PhotoEntry]:
        return [p for p in self.photos if p.subject is not None]

    @property
    def skipped(self) -> list[PhotoEntry]:
        return [p for p in self.photos if p.subject is None]

    @property
    def dataset(self) -> str:
        return dataset_name({"photos": [asdict(p) for p in self.photos]})


# ------------------------------------------------------------------------------------------- the output folder
def check_output(out: Path, files: list[Path], folders: list[Path]) -> None:
    """Refuse an output folder that holds an input photo or lies inside a folder of them: inputs are never written to."""
    target = Path(out).resolve()
    for f in files:
        if target in f.resolve().parents:
            raise PairsError(f"--out {out} holds the input photo {f}; choose a folder outside the photos")
    for d in folders:
        d = Path(d).resolve()
        if target == d or d in target.parents:
            raise PairsError(f"--out {out} lies inside the photo folder {d}; choose a folder outside it "
                             "(input folders are never written to)")


def existing_tree(out: Path) -> dict | None:
    """The marker of the pairs tree at ``out``; None for an absent or empty folder; PairsError for anything else."""
    out = Path(out)
    try:
        marker = read_marker(out)
    except (ValueError, json.JSONDecodeError) as e:
        raise PairsError(f"{out}: {e}; refusing to write into it") from None
    if marker is None and out.exists() and any(out.iterdir()):
        raise PairsError(f"{out} is not empty and is not a photo-pairs tree (no {MARKER}); refusing to write into it")
    return marker


def file_digest(path: Path) -> tuple[int | None, str | None]:
    """The file's length and sha256 (None, None where it cannot be read at all)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return Path(path).stat().st_size, h.hexdigest()
    except OSError:
        return None, None


# ------------------------------------------------------------------------------------------------ the survey
def aligned_face(five: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, Pose]:
    """The photo -> crop matrix (the five-point fit to the template), the points in the crop, and the head's pose."""
    m = frontal_transform(five, size)
    in_crop = transform_points(five, m)
    return m, in_crop, crop_pose(in_crop, size)[0]


def survey_photo(path: Path, detector, size: int) -> PhotoEntry:
    """Whether a photo is a frontal face, and its five points if it is (``subject`` is set by the caller)."""
    n_bytes, digest = file_digest(path)
    entry = PhotoEntry(str(Path(path).resolve()), n_bytes, digest)
    try:
        rgb = read_photo(path)
    except ImageProblem as e:
        entry.skipped = f"unreadable: {e}"
        return entry
    entry.image_size = [int(rgb.shape[1]), int(rgb.shape[0])]
    detections = detector.detect(rgb)
    if not detections:
        entry.skipped = "no face found"
        return entry
    five = np.round(max(detections, key=lambda d: d.area).five.astype(np.float64), 3)
    try:
        _, _, pose = aligned_face(five, size)
    except (AlignmentError, PoseError) as e:
        entry.skipped = f"face found but not alignable ({e})"
        return entry
    yaw, pitch, roll = pose.angles
    entry.pose = {"yaw": round(yaw, 2), "pitch": round(pitch, 2), "roll": round(roll, 2)}
    if abs(yaw) > MAX_PHOTO_YAW:
        entry.skipped = (f"not frontal: fitted yaw {yaw:+.1f} degrees (pairs take |yaw| <= {MAX_PHOTO_YAW:g}; the round "
                         "trip that would use it is not implemented)")
        return entry
    entry.five = five.tolist()
    return entry


# ------------------------------------------------------------------------------------------------- the render
def view_files(out: Path, subject: int, camera: str, flash: int) -> tuple[Path, Path, Path]:
    """A view's image, landmark sidecar and unknown-pixel mask."""
    shot = ShotId(subject, SESSION, RECORDING, camera, flash)
    sidecar = Path(out) / landmark_path(shot)
    mask = sidecar.with_name(sidecar.name.replace("_landmarks.json", UNKNOWN_SUFFIX))
    return Path(out) / shot.relpath, sidecar, mask


def subject_finished(out: Path, subject: int, flash: int) -> bool:
    return all(p.exists() for cam in HEAD_HEIGHT_CAMERAS for p in view_files(out, subject, cam, flash))


def head_pose_record(pose: Pose) -> dict:
    """The photo's head pose as a SynthPIE sidecar records a recording's (the camera table's convention: a camera's yaw
    to the head is camera.yaw - yaw; geometry/oracle.py ``recording_rotation`` reads it back)."""
    yaw, pitch, roll = pose.angles
    return {"yaw": round(-yaw, 3), "pitch": round(pitch, 3), "roll": round(-roll, 3)}


def sidecar_text(view: TurnedView, size: int, head_pose: dict) -> str:
    """SynthPIE's landmark sidecar (synthpie/generate.py ``_sidecar``), key for key."""
    doc = {
        "format": "synthpie-landmarks",
        "version": SIDECAR_VERSION,
        "image_size": [size, size],
        "coordinates": "pixels, x right, y down, pixel centres at integers",
        "five_names": list(FIVE_POINTS),
        "five": np.round(view.five, 3).tolist(),
        "five_visible": [bool(v) for v in view.five_visible],
        "ibug68": np.round(view.ibug68, 3).tolist(),
        "ibug68_visible": [bool(v) for v in view.ibug68_visible],
        "head_pose": head_pose,
        # the reference head's crop camera every view is rendered with (geometry/reference.py), centred
        "camera": {"focal_px": round(FOCAL_CROPS * size, 4), "principal_point": [(size - 1) / 2, (size - 1) / 2]},
    }
    return json.dumps(doc, indent=1)


def mask_png(view: TurnedView) -> bytes:
    """The view's unknown pixels (data/pairs_tree.py): the head's apart from the scene's."""
    mask = np.where(view.unknown, np.where(view.head, UNSEEN_HEAD, UNSEEN_SCENE), 0).astype(np.uint8)
    ok, png = cv2.imencode(".png", mask)
    if not ok:
        raise ImageProblem("PNG encoding failed")
    return png.tobytes()


def render_subject(out: Path, photo: Path, entry: PhotoEntry, size: int, flash: int) -> None:
    """Write one subject's 13 head-height views, their sidecars and unknown masks."""
    rgb = read_photo(photo)
    m, five, pose = aligned_face(np.asarray(entry.five, np.float64), size)
    frontal = FrontalCrop(warp(rgb, m, size), inside_mask(rgb.shape, m, size), pose, five)
    head_pose = head_pose_record(pose)
    for camera in HEAD_HEIGHT_CAMERAS:
        view = frontal.view(CAMERA_BY_NAME[camera].yaw)
        image, sidecar, mask = view_files(out, entry.subject, camera, flash)
        write_png(image, view.picture)
        atomic_write_bytes(mask, mask_png(view))
        atomic_write_text(sidecar, sidecar_text(view, size, head_pose))


# ------------------------------------------------------------------------------------------------- the marker
def marker_text(photos: list[PhotoEntry], size: int, flash: int) -> str:
    doc = {
        "format": MARKER_FORMAT,
        "version": MARKER_VERSION,
        "rendered_from": "photographs",
        "description": ("one subject per frontal photograph: camera 05_1 is the photo's aligned face, the other "
                        "head-height cameras its head turned with the reference head (frontalize/geometry/turn.py); "
                        "<view>_unknown.png marks what the photo did not show: 255 the head, 128 the background"),
        "frontalize_version": __version__,
        "size": size,
        "flash": flash,
        "session": SESSION,
        "recording": RECORDING,
        "cameras": list(HEAD_HEIGHT_CAMERAS),
        "max_photo_yaw": MAX_PHOTO_YAW,
        "every_subject_trains": True,
        "round_trip": ROUND_TRIP,
        "subjects": sum(p.subject is not None for p in photos),
        "skipped": sum(p.subject is None for p in photos),
        "photos": [asdict(p) for p in photos],
    }
    return json.dumps(doc, indent=1)


def _resumed(marker: dict, out: Path, digests: list[str | None], size: int | None, flash: int | None):
    """The recorded photos, size and flash of an existing tree, if it is one of these photos at this size and flash."""
    if marker.get("version") != MARKER_VERSION:
        raise PairsError(f"{out} is a photo-pairs tree of format {marker.get('version')}, this version writes "
                         f"{MARKER_VERSION}; choose another --out")
    photos = [PhotoEntry.from_dict(p) for p in marker["photos"]]
    if [p.sha256 for p in photos] != digests:
        raise PairsError(f"{out} holds pairs rendered from other photos ({len(photos)} recorded in {MARKER}); "
                         "refusing to mix two sets of people under one name: choose another --out")
    for name, asked, recorded in (("--size", size, marker["size"]), ("--flash", flash, marker["flash"])):
        if asked is not None and asked != recorded:
            raise PairsError(f"{out} was rendered with {name} {recorded}, not {asked}; choose another --out")
    return photos, marker["size"], marker["flash"]


def build_tree(files: list[Path], out: Path, size: int | None = None, flash: int | None = None, folders=(),
               progress: bool = True, on_photo: Callable[[PhotoEntry], None] = lambda _: None,
               detector=None) -> PairsSummary:
    """Build (or complete) the pairs tree of ``files`` at ``out``; return what it holds and what this run did.

    ``folders``: the folders the photos were taken from (the output may not lie inside one); ``size``, ``flash``:
    None takes an existing tree's, else ``DEFAULT_SIZE`` and flash 07; ``detector``: anything with ``detect(rgb)``
    returning MTCNN detections in the photo's pixels (default: ``Frontalizer``'s)."""
    t0 = time.perf_counter()
    out = Path(out)
    files = sorted({Path(f).resolve(): Path(f) for f in files}.items())
    paths = [given for _, given in files]
    check_output(out, paths, list(folders))
    marker = existing_tree(out)
    digests = [file_digest(p)[1] for p in paths]
    if marker is not None:
        photos, size, flash = _resumed(marker, out, digests, size, flash)
        for p in photos:
            on_photo(p)
    else:
        size, flash = size or DEFAULT_SIZE, FRONTAL_FLASH if flash is None else flash
        detector = detector or _default_detector(size)
        photos = []
        for path in tqdm(paths, unit="photo", desc="find frontal faces", disable=not progress):
            entry = survey_photo(path, detector, size)
            subjects = sum(p.subject is not None for p in photos)
            if entry.skipped is None and subjects == MAX_SUBJECTS:
                entry.skipped, entry.five = f"beyond the layout's {MAX_SUBJECTS} subjects (three-digit ids)", None
            elif entry.skipped is None:
                entry.subject = subjects + 1
            photos.append(entry)
            on_photo(entry)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / MARKER, marker_text(photos, size, flash))
    summary = PairsSummary(out, size, flash, photos)
    todo = []
    for path, entry in zip(paths, photos):
        if entry.subject is None:
            continue
        if subject_finished(out, entry.subject, flash):
            summary.finished_before.append(entry.subject)
        else:
            todo.append((path, entry))
    for path, entry in tqdm(todo, unit="subject", desc=f"render {len(HEAD_HEIGHT_CAMERAS)} views", disable=not progress):
        render_subject(out, path, entry, size, flash)
        summary.rendered.append(entry.subject)
    summary.seconds = time.perf_counter() - t0
    return summary


def _default_detector(size: int):
    from frontalize.inference.frontalizer import Frontalizer

    return Frontalizer(None, size=size)
