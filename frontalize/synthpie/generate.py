"""Write a SynthPIE tree: the exact Multi-PIE layout, rendered from synthetic subjects.

The unit of work is one recording (subject, session, recording): its head is
built once, seen from every camera, lit by every flash.  A subject's session
(a visit: its recordings, which share the day's look, sessions.py) goes to one
process, so session 04's two neutral recordings build their head once.
Visits are rendered in parallel, each file is written atomically, and
finished files are skipped, so an interrupted run resumes where it stopped.
The same seed and preset give byte-identical files.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from frontalize.data.images import encode_png
from frontalize.data.landmarks import FIVE_POINTS, IBUG68_MOUTH_IMAGE_LEFT, IBUG68_MOUTH_IMAGE_RIGHT, IBUG68_NOSE_TIP
from frontalize.data.multipie import CAMERAS, HEAD_HEIGHT_CAMERAS, RECORDINGS, SESSIONS, ShotId
from frontalize.data.scan import ALPHA_SUFFIX, SIDECAR_SUFFIX
from frontalize.synthpie import photo, studio
from frontalize.synthpie.head import NEUTRAL, SMILE, Expression, Head, sample_subject
from frontalize.synthpie.render import Scene, build_scene, look, rotation
from frontalize.synthpie.render import pose as pose_scene
from frontalize.synthpie.sessions import SessionLook, draw_attendance, session_look
from frontalize.utils.io import atomic_write_bytes, atomic_write_text
from frontalize.utils.threads import single_threaded_forks

MARKER = "synthpie.json"
# v2: heads with hair styles and facial hair, shared colours; `small` at Multi-PIE counts.  v3: cameras on the sides
# Multi-PIE has them (positive yaws on the subject's right; v2 mirrored every view), light symmetric about the face.
# v4: a photograph's look drawn per image (photo.py: background, clothing, the room's light, skin texture, exposure,
# casts, blur, noise, JPEG), framing drawn per view, a subject mask beside each view's landmarks
FORMAT_VERSION = 4
EXPRESSIONS: dict[str, Expression] = {"neutral": NEUTRAL, "smile": SMILE}
ALL_CAMERAS = tuple(c.name for c in CAMERAS)
# the fastest zlib level with one fixed filter: the noise barely compresses anyway; on v4 images "up" is the fastest
# filter and the smallest files (1.6 ms and 58 kB a 256x192 image, Paeth 1.9 ms and 58 kB, none 1.9 ms and 74 kB)
PNG_OPTIONS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]


# The frontal flash 07 (gallery, targets) and the pair beside the -45 and +45 cameras (04, 10): light symmetric about
# the face, so the - and + yaw columns of every table are mirror pairs (with 10 alone, +45 was lit from its own side
# and -45 from the far side: warp-only face SSIM at -45 / +45 under flash 10 was 0.520 / 0.362, issue #19).
SYMMETRIC_FLASHES = (4, 7, 10)


@dataclass(frozen=True)
class Preset:
    subjects: int
    cameras: tuple[str, ...]
    flashes: tuple[int, ...]
    width: int = 320
    height: int = 240
    sessions: tuple[int, ...] = (1,)
    recordings: tuple[int, ...] = (1, 2)  # of every session (session 01: neutral, smile), unless session_recordings
    # several sessions: one entry per session in ``sessions``, the recordings rendered and the subject ids recorded
    # (None: ``recordings`` in every session, and subjects 1..``subjects`` in every session)
    session_recordings: tuple[tuple[int, ...], ...] | None = None
    attendance: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self):
        for name in ("session_recordings", "attendance"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.sessions):
                raise ValueError(f"{name} needs one entry per session {self.sessions}, got {len(value)}")
        if self.attendance is not None and len(self.subject_ids()) != self.subjects:
            raise ValueError(f"attendance names {len(self.subject_ids())} subjects, the preset says {self.subjects}")

    def recordings_of(self, session: int) -> tuple[int, ...]:
        if self.session_recordings is None:
            return self.recordings
        return self.session_recordings[self.sessions.index(session)]

    def attendees(self, session: int) -> tuple[int, ...]:
        if self.attendance is None:
            return tuple(range(1, self.subjects + 1))
        return self.attendance[self.sessions.index(session)]

    def subject_ids(self) -> list[int]:
        return sorted({s for ses in self.sessions for s in self.attendees(ses)})

    def visits(self) -> list[tuple[int, int]]:
        """(subject, session) for every session a subject came to, by subject."""
        return sorted((s, ses) for ses in self.sessions for s in self.attendees(ses))

    def first_subjects(self, n: int) -> "Preset":
        """The same preset with only its first ``n`` subject ids (their files are exactly the full preset's)."""
        if self.attendance is None:
            return replace(self, subjects=min(n, self.subjects))
        keep = set(self.subject_ids()[:n])
        attendance = tuple(tuple(s for s in ids if s in keep) for ids in self.attendance)
        return replace(self, subjects=len(keep), attendance=attendance)

    @property
    def n_images(self) -> int:
        recordings = sum(len(self.recordings_of(ses)) for _, ses in self.visits())
        return recordings * len(self.cameras) * len(self.flashes)


def _neutral_recordings(sessions) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(r for r, e in RECORDINGS[s].items() if e == "neutral") for s in sessions)


_MULTIPIE_ATTENDANCE = draw_attendance()

PRESETS: dict[str, Preset] = {
    # a few subjects, cameras and flashes: seconds, for tests
    "tiny": Preset(6, ("11_0", "08_0", "14_0", "05_1", "05_0", "19_0", "24_0"), SYMMETRIC_FLASHES),
    # the CPU demo: Multi-PIE's 249 session-01 subjects, so every protocol splits as in the papers
    # (setting1 100/149, session01 200/49); every camera; the frontal flash (gallery, targets) and a mirror pair
    "small": Preset(249, ALL_CAMERAS, SYMMETRIC_FLASHES, width=256, height=192),
    # Multi-PIE's session 01 counts at Multi-PIE's resolution
    "session01": Preset(249, ALL_CAMERAS, tuple(range(20)), width=640, height=480),
    # Setting 2: Multi-PIE's four sessions and attendance (sessions.py), every neutral recording (session 04 has two),
    # the 13 head-height cameras, `small`'s flashes and size: its session 01 is `small`'s recording 01
    "sessions": Preset(
        len({s for a in _MULTIPIE_ATTENDANCE.values() for s in a}), HEAD_HEIGHT_CAMERAS, SYMMETRIC_FLASHES,
        width=256, height=192, sessions=SESSIONS, recordings=(1,), session_recordings=_neutral_recordings(SESSIONS),
        attendance=tuple(_MULTIPIE_ATTENDANCE[s] for s in SESSIONS),
    ),
    # for tests: six subjects (id 6 unused), sessions 01 (both recordings), 02 and 04 (two neutral recordings);
    # subject 7 misses session 01, so its earliest session is 02
    "tiny_sessions": Preset(
        6, ("11_0", "08_0", "14_0", "05_1", "05_0", "19_0", "24_0"), SYMMETRIC_FLASHES, width=160, height=120,
        sessions=(1, 2, 4), session_recordings=((1, 2), (1,), (1, 2)),
        attendance=((1, 2, 3, 4, 5), (2, 5, 7), (1, 3, 5, 7)),
    ),
}


class SynthPIEError(RuntimeError):
    """A problem the user must fix (wrong output folder, mismatched preset)."""


def landmark_path(shot: ShotId) -> Path:
    """The landmark sidecar of a camera view: beside its images, one per (subject, session, recording, camera)."""
    stem = shot.filename.rsplit("_", 1)[0]
    return shot.relpath.parent / f"{stem}{SIDECAR_SUFFIX}"


def alpha_path(shot: ShotId) -> Path:
    """The subject mask of a camera view, beside its landmark sidecar: 8-bit grey PNG at the images' size, 255 where
    the subject (head, hair, neck, shirt) covers the pixel, 0 on the background, soft at the silhouette.  All flashes
    of a view share it, as they share the geometry."""
    stem = shot.filename.rsplit("_", 1)[0]
    return shot.relpath.parent / f"{stem}{ALPHA_SUFFIX}"


def _expression_of(session: int, recording: int) -> str:
    name = RECORDINGS[session][recording]
    if name not in EXPRESSIONS:
        raise SynthPIEError(f"SynthPIE renders only {sorted(EXPRESSIONS)}; session {session} recording {recording} is {name}")
    return name


def subject_params(seed: int, subject: int):
    return sample_subject(np.random.default_rng([seed, subject, 0]))


def subject_look(seed: int, subject: int, session: int) -> SessionLook:
    """The subject as they came to ``session`` (sessions.py): in session 01, ``subject_params`` unchanged."""
    return session_look(subject_params(seed, subject), seed, subject, session)


@lru_cache(maxsize=2)
def _scene(seed: int, subject: int, session: int, expression: str, n_phi: int) -> Scene:
    """The head of one visit with one expression; session 04's two neutral recordings share it."""
    return build_scene(Head(subject_look(seed, subject, session).params, EXPRESSIONS[expression]), n_phi=n_phi)


def unit_shots(preset: Preset, subject: int, session: int, recording: int) -> list[ShotId]:
    return [ShotId(subject, session, recording, cam, fl) for cam in preset.cameras for fl in preset.flashes]


def render_unit(out: Path, preset: Preset, seed: int, subject: int, session: int, recording: int) -> int:
    """Render every missing file of one recording; return how many images were written."""
    shots = unit_shots(preset, subject, session, recording)
    todo_cams = [
        cam
        for cam in preset.cameras
        if not (out / landmark_path(ShotId(subject, session, recording, cam, 0))).exists()
        or not (out / alpha_path(ShotId(subject, session, recording, cam, 0))).exists()
        or any(not (out / s.relpath).exists() for s in shots if s.camera == cam)
    ]
    if not todo_cams:
        return 0
    scene = _scene(seed, subject, session, _expression_of(session, recording), preset.height)
    pose = studio.recording_pose(np.random.default_rng([seed, subject, session, recording, 1]))
    posed = pose_scene(
        scene, rotation(pose.yaw, pose.pitch, pose.roll), np.asarray(pose.shift),
        [studio.flash_direction(fl) for fl in preset.flashes],
    )
    written = 0
    for cam_name in todo_cams:
        cam_index = ALL_CAMERAS.index(cam_name)
        # the view's framing from the view's stream; each image's look from the image's (photo.py): never the subject's
        framing = studio.draw_framing(np.random.default_rng([seed, subject, session, recording, cam_index, 5]))
        cam = studio.camera_model(cam_name, preset.width, preset.height, pose, framing)
        view = look(posed, cam)
        for k, fl in enumerate(preset.flashes):
            shot = ShotId(subject, session, recording, cam_name, fl)
            path = out / shot.relpath
            if path.exists():
                continue
            rng = np.random.default_rng([seed, subject, session, recording, cam_index, fl, 2])
            gain = studio.shot_gain(rng, cam_name, fl)
            rgb = photo.develop(view, k, gain, photo.draw_look(rng), rng)
            atomic_write_bytes(path, encode_png(rgb, PNG_OPTIONS))
            written += 1
        view_id = ShotId(subject, session, recording, cam_name, 0)
        mask = (view.alpha * 255 + 0.5).astype(np.uint8)
        atomic_write_bytes(out / alpha_path(view_id), encode_png(mask, PNG_OPTIONS))
        atomic_write_text(out / landmark_path(view_id), _sidecar(view, cam, pose))
    return written


def _sidecar(view, cam, pose: studio.RecordingPose) -> str:
    # renderer pixels span [i, i+1); shift so pixel centres are integers (OpenCV, MTCNN)
    pts68 = view.landmarks - 0.5
    five = np.stack(
        [
            view.irises[0] - 0.5,
            view.irises[1] - 0.5,
            pts68[IBUG68_NOSE_TIP],
            pts68[IBUG68_MOUTH_IMAGE_LEFT],
            pts68[IBUG68_MOUTH_IMAGE_RIGHT],
        ]
    )
    five_vis = [
        bool(view.iris_visible[0]),
        bool(view.iris_visible[1]),
        bool(view.landmark_visible[IBUG68_NOSE_TIP]),
        bool(view.landmark_visible[IBUG68_MOUTH_IMAGE_LEFT]),
        bool(view.landmark_visible[IBUG68_MOUTH_IMAGE_RIGHT]),
    ]
    doc = {
        "format": "synthpie-landmarks",
        "version": FORMAT_VERSION,
        "image_size": [cam.width, cam.height],
        "coordinates": "pixels, x right, y down, pixel centres at integers",
        "five_names": list(FIVE_POINTS),
        "five": np.round(five, 3).tolist(),
        "five_visible": five_vis,
        "ibug68": np.round(pts68, 3).tolist(),
        "ibug68_visible": [bool(v) for v in view.landmark_visible],
        # the head's turn in the camera table's yaw convention: a camera's yaw to the head is camera.yaw - this
        "head_pose": {"yaw": round(studio.azimuth(pose.yaw), 3), "pitch": round(pose.pitch, 3), "roll": round(pose.roll, 3)},
        # the view's pinhole camera (its framing): focal length and principal point, in the coordinates above
        "camera": {"focal_px": round(cam.focal_px, 4),
                   "principal_point": [round(cam.width / 2 + cam.principal[0] - 0.5, 4),
                                       round(cam.height / 2 + cam.principal[1] - 0.5, 4)]},
    }
    return json.dumps(doc, indent=1)


def read_sidecar(path: Path) -> dict:
    doc = json.loads(Path(path).read_text())
    if doc.get("format") != "synthpie-landmarks":
        raise ValueError(f"{path} is not a SynthPIE landmark file")
    return doc


def _check_output(out: Path, preset_name: str, seed: int) -> None:
    marker = out / MARKER
    if marker.exists():
        meta = json.loads(marker.read_text())
        # another format draws other subjects: completing its tree would mix two datasets under one name
        if (meta.get("version"), meta.get("preset"), meta.get("seed")) != (FORMAT_VERSION, preset_name, seed):
            raise SynthPIEError(
                f"{out} holds SynthPIE format {meta.get('version')} preset {meta.get('preset')!r} "
                f"seed {meta.get('seed')}; "
                f"refusing to mix in format {FORMAT_VERSION} preset {preset_name!r} seed {seed}. Choose another --out."
            )
        return
    if out.exists() and any(out.iterdir()):
        raise SynthPIEError(f"{out} is not empty and is not a SynthPIE tree (no {MARKER}); refusing to write into it")


def _visit_worker(args) -> tuple[int, int]:
    """Render one visit (a subject's session, all its recordings); return (its images, how many were written)."""
    out, preset, seed, subject, session = args
    recordings = preset.recordings_of(session)
    written = sum(render_unit(out, preset, seed, subject, session, rec) for rec in recordings)
    return len(recordings) * len(preset.cameras) * len(preset.flashes), written


def _preset_record(p: Preset) -> dict:
    """The preset as synthpie.json records it; a one-session preset's record is what it always was."""
    record = asdict(p)
    del record["session_recordings"], record["attendance"]
    if p.session_recordings is not None:
        record["session_recordings"] = {f"{s:02d}": list(p.recordings_of(s)) for s in p.sessions}
    if p.attendance is not None:
        record["attendance"] = {f"{s:02d}": list(p.attendees(s)) for s in p.sessions}
    return record


def read_attendance(root: Path) -> dict[int, list[int]]:
    """Session -> subject ids of a SynthPIE tree, from its synthpie.json."""
    meta = json.loads((Path(root) / MARKER).read_text())
    if "attendance" in meta:
        return {int(s): ids for s, ids in meta["attendance"].items()}
    return {s: list(range(1, meta["subjects"] + 1)) for s in meta["sessions"]}


def generate(
    out: Path, preset: str = "small", seed: int = 0, workers: int | None = None, progress: bool = True,
    subjects: int | None = None,
) -> dict:
    """Build (or complete) a SynthPIE tree under ``out``; return a summary.

    ``subjects`` keeps only the preset's first subjects: their files are exactly the full preset's.
    """
    if preset not in PRESETS:
        raise SynthPIEError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    p = PRESETS[preset]
    if subjects is not None:
        p = p.first_subjects(subjects)
    out = Path(out)
    _check_output(out, preset, seed)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"generator": "synthpie", "version": FORMAT_VERSION, "preset": preset, "seed": seed, **_preset_record(p)}
    atomic_write_text(out / MARKER, json.dumps(meta, indent=1))
    atomic_write_text(
        out / "subjects.json",
        json.dumps({f"{s:03d}": subject_params(seed, s).as_dict() for s in p.subject_ids()}, indent=1),
    )
    if len(p.sessions) > 1:  # what changed between a subject's sessions
        looks: dict[str, dict] = {}
        for s, ses in p.visits():
            looks.setdefault(f"{s:03d}", {})[f"{ses:02d}"] = subject_look(seed, s, ses).summary()
        atomic_write_text(out / "sessions.json", json.dumps(looks, indent=1))
    visits = [(out, p, seed, s, ses) for s, ses in p.visits()]
    workers = workers or os.cpu_count() or 1
    written = 0
    with tqdm(total=p.n_images, unit="img", desc=f"SynthPIE {preset}", disable=not progress) as bar:
        if workers == 1:
            results = map(_visit_worker, visits)
            pool = None
        else:
            # one process per core: the libraries' own threads would only contend with the other workers
            with single_threaded_forks():
                pool = get_context("fork").Pool(workers)
            results = pool.imap_unordered(_visit_worker, visits)
        try:
            for images, n in results:
                written += n
                bar.update(images)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    return {"preset": preset, "seed": seed, "images": p.n_images, "written": written, "skipped": p.n_images - written}
