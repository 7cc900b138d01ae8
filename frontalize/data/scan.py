"""Walk a Multi-PIE tree: validate the layout, count what is there, list gaps and stray files.

The walk keeps one entry per camera *view* (subject, session, recording,
camera: up to 20 flashes each), never one per image, so its memory follows
the number of views (about 37k for real Multi-PIE), not the 750k images.
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from frontalize.data.multipie import CAMERA_BY_NAME, RECORDINGS, parse_filename
from frontalize.data.pairs_tree import UNKNOWN_SUFFIX

EXPECTED_LAYOUT = "ROOT/data/session01/multiview/<subject 001>/<recording 01>/<camera 05_1>/001_01_01_051_07.png"
# Sidecars: files beside a camera view's images that describe the whole view (all its flashes), named by the view's
# stem <SSS>_<ss>_<rr>_<ccc>.  SynthPIE writes both (synthpie/generate.py); real Multi-PIE has neither.  They are
# counted as sidecars, never as images nor as stray files.
SIDECAR_SUFFIX = "_landmarks.json"  # the view's landmarks (README, "Landmark sidecar"; schemas in data/landmarks.py)
ALPHA_SUFFIX = "_alpha.png"  # the view's subject mask: 8-bit grey, 255 = subject (head, hair, neck, shirt)


class LayoutError(ValueError):
    """The root does not look like Multi-PIE."""


@dataclass(frozen=True)
class ViewKey:
    subject: int
    session: int
    recording: int
    camera: str

    @property
    def reldir(self) -> Path:
        """Relative to the data folder (the one holding session0X)."""
        return Path(f"session{self.session:02d}", "multiview", f"{self.subject:03d}", f"{self.recording:02d}", self.camera)

    @property
    def stem(self) -> str:
        return f"{self.subject:03d}_{self.session:02d}_{self.recording:02d}_{CAMERA_BY_NAME[self.camera].code}"


@dataclass
class Inventory:
    data_dir: Path
    views: list[ViewKey] = field(default_factory=list)
    flashes: dict[ViewKey, tuple[int, ...]] = field(default_factory=dict)
    by_session: Counter = field(default_factory=Counter)
    by_recording: Counter = field(default_factory=Counter)
    by_camera: Counter = field(default_factory=Counter)
    by_flash: Counter = field(default_factory=Counter)
    stray: list[str] = field(default_factory=list)
    sidecars: int = 0
    alpha_sidecars: int = 0
    unknown_masks: int = 0  # a photo-pairs tree's (data/pairs_tree.py): a view's companions, like its sidecar

    @property
    def images(self) -> int:
        return sum(self.by_session.values())

    def subjects(self, session: int | None = None) -> list[int]:
        return sorted({v.subject for v in self.views if session is None or v.session == session})

    @property
    def sessions(self) -> list[int]:
        return sorted({v.session for v in self.views})

    def counts(self) -> dict:
        return {
            "images": self.images,
            "views": len(self.views),
            "subjects": len(self.subjects()),
            "subjects_by_session": {f"{s:02d}": len(self.subjects(s)) for s in self.sessions},
            "by_session": {f"{k:02d}": v for k, v in sorted(self.by_session.items())},
            "by_recording": {f"{s:02d}_{r:02d}": v for (s, r), v in sorted(self.by_recording.items())},
            "by_camera": {k: self.by_camera[k] for k in sorted(self.by_camera, key=lambda c: CAMERA_BY_NAME[c].yaw)},
            "by_flash": {f"{k:02d}": v for k, v in sorted(self.by_flash.items())},
            "landmark_sidecars": self.sidecars,
            "alpha_sidecars": self.alpha_sidecars,
            "unknown_masks": self.unknown_masks,
            "stray_files": len(self.stray),
        }

    def gaps(self) -> list[str]:
        """Human-readable list of what a complete tree would have and this one lacks."""
        lines = []
        all_subjects = self.subjects()
        if all_subjects:
            missing_ids = sorted(set(range(all_subjects[0], all_subjects[-1] + 1)) - set(all_subjects))
            if missing_ids:
                lines.append(f"subject ids not present (non-contiguous ids): {_ranges(missing_ids)}")
        for s in self.sessions:
            absent = sorted(set(all_subjects) - set(self.subjects(s)))
            if absent:
                lines.append(f"session {s:02d}: {len(absent)} subjects absent: {_ranges(absent)}")
        recs_by_session = defaultdict(set)
        recs_by_subject = defaultdict(set)
        for v in self.views:
            recs_by_session[v.session].add(v.recording)
            recs_by_subject[(v.subject, v.session)].add(v.recording)
        for (subj, ses), recs in sorted(recs_by_subject.items()):
            if recs_by_session[ses] - recs:
                lines.append(f"{subj:03d} session {ses:02d}: recordings missing {sorted(recs_by_session[ses] - recs)}")
        cameras = set(self.by_camera)
        flashes = set(self.by_flash)
        views_by_rec = defaultdict(set)
        for v in self.views:
            views_by_rec[(v.subject, v.session, v.recording)].add(v.camera)
        for (subj, ses, rec), cams in sorted(views_by_rec.items()):
            if cameras - cams:
                lines.append(f"{subj:03d} session {ses:02d} recording {rec:02d}: cameras missing {sorted(cameras - cams)}")
        for v in self.views:
            miss = flashes - set(self.flashes[v])
            if miss:
                lines.append(f"{v.reldir}: flashes missing {sorted(miss)}")
        return lines


def _ranges(ids: list[int]) -> str:
    out, start, prev = [], None, None
    for i in ids:
        if start is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            out.append(f"{start:03d}" if start == prev else f"{start:03d}-{prev:03d}")
            start = prev = i
    if start is not None:
        out.append(f"{start:03d}" if start == prev else f"{start:03d}-{prev:03d}")
    return ", ".join(out)


def _has_sessions(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("session0[1-4]/multiview"))


def resolve_data_dir(root: Path) -> Path:
    """The folder that holds ``session0X/multiview``: ``root/data``, or ``root`` itself."""
    root = Path(root).expanduser()
    if not root.exists():
        raise LayoutError(f"{root} does not exist. Expected layout: {EXPECTED_LAYOUT}")
    for data in (root / "data", root):
        if _has_sessions(data):
            return data
    found = sorted(p.name for p in root.iterdir())[:12] if root.is_dir() else []
    raise LayoutError(
        f"{root} is not a Multi-PIE root: no data/session0X/multiview folder in it.\n"
        f"  expected: {EXPECTED_LAYOUT}\n"
        f"  found:    {', '.join(found) if found else '(nothing)'}\n"
        "  Point --root at the folder that holds 'data' (or at 'data' itself)."
    )


def _sorted_dirs(path: Path, stray: list[str], root: Path, valid) -> list[os.DirEntry]:
    keep = []
    with os.scandir(path) as it:
        for e in it:
            if e.is_dir() and valid(e.name):
                keep.append(e)
            else:
                stray.append(str(Path(e.path).relative_to(root)))
    return sorted(keep, key=lambda e: e.name)


def scan(root: Path) -> Inventory:
    data = resolve_data_dir(root)
    inv = Inventory(data_dir=data)
    root = data
    sessions = [f"session{s:02d}" for s in RECORDINGS]
    for ses_dir in _sorted_dirs(data, inv.stray, root, lambda n: n in sessions):
        session = int(ses_dir.name[-2:])
        mv = Path(ses_dir.path) / "multiview"
        if not mv.is_dir():
            inv.stray.append(str(Path(ses_dir.path).relative_to(root)))
            continue
        for subj_dir in _sorted_dirs(mv, inv.stray, root, lambda n: len(n) == 3 and n.isdigit()):
            for rec_dir in _sorted_dirs(
                Path(subj_dir.path), inv.stray, root, lambda n: n.isdigit() and int(n) in RECORDINGS[session]
            ):
                for cam_dir in _sorted_dirs(Path(rec_dir.path), inv.stray, root, lambda n: n in CAMERA_BY_NAME):
                    _scan_view(inv, root, session, int(subj_dir.name), int(rec_dir.name), cam_dir)
    if not inv.views:
        raise LayoutError(
            f"{data} has the Multi-PIE folders but no images in them.\n  expected: {EXPECTED_LAYOUT}"
        )
    return inv


def _scan_view(inv: Inventory, root: Path, session: int, subject: int, recording: int, cam_dir: os.DirEntry) -> None:
    key = ViewKey(subject, session, recording, cam_dir.name)
    flashes = []
    with os.scandir(cam_dir.path) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        rel = str(Path(e.path).relative_to(root))
        if e.name == key.stem + SIDECAR_SUFFIX:
            inv.sidecars += 1
            continue
        if e.name == key.stem + ALPHA_SUFFIX:
            inv.alpha_sidecars += 1
            continue
        if e.name == key.stem + UNKNOWN_SUFFIX:
            inv.unknown_masks += 1
            continue
        try:
            shot = parse_filename(e.name)
        except ValueError:
            inv.stray.append(rel)
            continue
        if (shot.subject, shot.session, shot.recording, shot.camera) != (subject, session, recording, key.camera):
            inv.stray.append(rel + "  (name does not match its folders)")
            continue
        flashes.append(shot.flash)
        inv.by_session[session] += 1
        inv.by_recording[(session, recording)] += 1
        inv.by_camera[key.camera] += 1
        inv.by_flash[shot.flash] += 1
    if flashes:
        inv.views.append(key)
        inv.flashes[key] = tuple(flashes)
