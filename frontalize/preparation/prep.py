"""Prepare a Multi-PIE tree (real or SynthPIE): landmarks, aligned crops, protocol manifests.

Work is done per camera view (one subject, session, recording and camera:
its flashes were shot within a second, so they share the head position).
Each view ends with a small record file beside its crops; a re-run trusts
only those records (written last, atomically), so an interrupted run
resumes and a finished one changes nothing.  The index and the manifests
are streamed from the records to CSV, so memory does not grow with the
number of images.

Landmark sources, recorded for every image:
  sidecar        SynthPIE ground truth
  mtcnn          MTCNN found the face in this image
  mtcnn_view     MTCNN missed this image, or was not asked (``detect_per_view``): the median of the same view's
                 detected flashes
Poses are fitted to the landmarks as they are, MTCNN's as the renderer's: taking MTCNN's drift towards a frontal
layout out of its points turns the fitted heads as far as the labels say, and costs identity on real faces
(docs/real_faces.md), so it is an option of ``frontalize infer`` only.
  camera_prior   MTCNN missed the whole view: the camera's typical landmarks (learned from
                 the images where detection worked), shifted by this recording's head offset
                 measured at the nearest camera where detection worked

Subject masks: where a view has one (SynthPIE's ``<view stem>_alpha.png``, data/scan.py), it is cropped with the
view's alignment once per view and size, ``crops/<size>/<view folder>/<view stem>_alpha.png``, and every row of the
view names it in the index's and manifests' ``alpha_path`` ('' where the data has none, as real Multi-PIE).
"""
from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from frontalize.data.align import AlignmentError, frontal_transform, pose_transform, transform_points, warp
from frontalize.data.images import ImageProblem, read_mask, read_rgb, write_png
from frontalize.data.manifest import ManifestWriter, format_landmarks
from frontalize.data.multipie import CAMERA_BY_NAME, FRONTAL_CAMERA, ShotId, expression
from frontalize.data.pairs_tree import dataset_name as pairs_dataset_name, every_subject_trains, read_marker as pairs_marker
from frontalize.data.protocols import DEFAULT_GALLERY_FLASH, PROTOCOLS, make_split
from frontalize.data.scan import ALPHA_SUFFIX, SIDECAR_SUFFIX, Inventory, ViewKey, scan
from frontalize.data.template import eye_mouth_axis, region_boxes, template_points
from frontalize.geometry.pose import crop_pose
from frontalize.synthpie.generate import MARKER
from frontalize.utils.io import atomic_open, atomic_write_text

INDEX_FIELDS = [
    "crop_path", "source_path", "subject", "session", "recording", "expression", "camera", "yaw", "flash",
    "status", "landmark_source", "five", "matrix", "landmarks", "pose", "alpha_path",
]
# 2: landmarks in crop coordinates and the estimated pose; 3: the upright pose prior; 4: the raised cameras' prior;
# 5: the record names how its landmarks were found (sidecar or MTCNN, flashes detected); 6: the view's subject mask
# cropped beside its crops (alpha_path)
RECORD_VERSION = 6


@dataclass
class PrepConfig:
    root: Path
    out: Path
    size: int = 128
    protocols: tuple[str, ...] = ("setting1", "session01", "setting2")
    workers: int = 1
    landmarks: str = "auto"  # auto (sidecar where present, else MTCNN) | sidecar | mtcnn
    # MTCNN on this many flashes of each view at most (the gallery flash first, then in order), the others taking their
    # median: a view's flashes were shot within a second, so the head has not moved.  None: every flash
    detect_per_view: int | None = None
    gallery_flash: int = DEFAULT_GALLERY_FLASH
    preview: bool = False
    progress: bool = True


@dataclass
class ViewTask:
    data_dir: Path
    out: Path  # the prepared folder
    view: ViewKey
    flashes: tuple[int, ...]
    size: int
    landmarks: str
    detect_per_view: int | None = None
    gallery_flash: int = DEFAULT_GALLERY_FLASH

    @property
    def record(self) -> Path:
        return record_path(self.out, self.size, self.view)


@dataclass
class ViewResult:
    view: ViewKey
    records: list[dict] | None  # None while the view waits for the camera prior
    detections: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # MTCNN eye/mouth midpoints
    pending: dict = field(default_factory=dict)  # flash -> None, for views that wait for the camera prior
    cached: bool = False


def crop_relpath(size: int, view: ViewKey, flash: int) -> Path:
    shot = ShotId(view.subject, view.session, view.recording, view.camera, flash)
    return Path("crops", str(size)) / view.reldir / shot.filename


def alpha_crop_relpath(size: int, view: ViewKey) -> Path:
    """The crop of a view's subject mask: one per view and size, beside the view's crops."""
    return Path("crops", str(size)) / view.reldir / f"{view.stem}{ALPHA_SUFFIX}"


def record_path(out: Path, size: int, view: ViewKey) -> Path:
    """The view's record: written last, so its presence means the view is done."""
    return out / "crops" / str(size) / view.reldir / f"{view.stem}_prep.json"


# --------------------------------------------------------------------------- per view
_DETECTOR = None


def _detector():
    global _DETECTOR
    if _DETECTOR is None:
        from frontalize.face.detect import FaceDetector

        _DETECTOR = FaceDetector()
    return _DETECTOR


def _read_image(path: Path) -> np.ndarray | None:
    """The image, or None when it cannot be used (reported per file as 'unreadable')."""
    try:
        img = read_rgb(path)
    except ImageProblem:
        return None
    return img if min(img.shape[:2]) >= 16 else None


def _sidecar_five(task: ViewTask) -> np.ndarray | None:
    path = task.data_dir / task.view.reldir / (task.view.stem + SIDECAR_SUFFIX)
    if task.landmarks == "mtcnn" or not path.exists():
        return None
    doc = json.loads(path.read_text())
    return np.asarray(doc["five"], np.float64)


def process_view(task: ViewTask) -> ViewResult:
    view = task.view
    if task.record.exists():
        doc = json.loads(task.record.read_text())
        if (doc.get("version") == RECORD_VERSION and tuple(doc["flashes"]) == task.flashes and doc["size"] == task.size
                and doc.get("sources") == _source_stamps(task) and doc.get("landmarks") == _landmark_mode(task)):
            return ViewResult(view, doc["records"], cached=True)
    images = {fl: _read_image(task.data_dir / view.reldir / _shot(view, fl).filename) for fl in task.flashes}
    five: dict[int, np.ndarray | None] = {}
    source: dict[int, str] = {}
    detections = []
    truth = _sidecar_five(task)
    readable = [fl for fl, im in images.items() if im is not None]
    if truth is not None:
        for fl in readable:
            five[fl], source[fl] = truth, "sidecar"
    elif task.landmarks == "sidecar":
        pass  # strict mode: no sidecar, no landmarks
    elif readable:
        for fl, dets in _detections(task, images, readable):
            if dets:
                five[fl], source[fl] = dets[0].five, "mtcnn"
                detections.append(eye_mouth_axis(dets[0].five))
        missed = [fl for fl in readable if fl not in five]
        if missed and len(five) > 0:
            median = np.median(np.stack(list(five.values())), axis=0)
            for fl in missed:
                five[fl], source[fl] = median, "mtcnn_view"
        elif missed:
            return ViewResult(view, None, detections, pending={fl: None for fl in missed})
    records = _finish_view(task, images, five, source)
    return ViewResult(view, records, detections)


def _detections(task: ViewTask, images: dict, readable: list[int]):
    """(flash, MTCNN's faces) for the flashes detected: all at once, or one by one, the gallery flash first, until
    ``detect_per_view`` of them found a face."""
    if task.detect_per_view is None:
        return list(zip(readable, _detector().detect([images[fl] for fl in readable])))
    found = []
    for fl in sorted(readable, key=lambda f: (f != task.gallery_flash, f)):
        dets = _detector().detect([images[fl]])[0]
        found.append((fl, dets))
        if sum(1 for _, d in found if d) >= task.detect_per_view:
            break
    return found


def _landmark_mode(task: ViewTask) -> list:
    """How the view's landmarks were found: a record made another way is not reused (sidecar crops are not MTCNN's)."""
    return [task.landmarks, task.detect_per_view, task.gallery_flash]


def _source_stamps(task: ViewTask) -> list:
    """Size and modification time of each source image (and the sidecar): a record is trusted only while they hold,
    so a regenerated or replaced tree is prepared again rather than matched to crops of its predecessor."""
    names = [_shot(task.view, fl).filename for fl in task.flashes] + [task.view.stem + s for s in (SIDECAR_SUFFIX,
                                                                                                  ALPHA_SUFFIX)]
    stamps = []
    for name in names:
        try:
            st = (task.data_dir / task.view.reldir / name).stat()
            stamps.append([name, st.st_size, st.st_mtime_ns])
        except OSError:
            stamps.append([name, None, None])
    return stamps


def _shot(view: ViewKey, flash: int) -> ShotId:
    return ShotId(view.subject, view.session, view.recording, view.camera, flash)


def _finish_view(task: ViewTask, images: dict, five: dict, source: dict) -> list[dict]:
    """Crop every image that has landmarks, then write the view's record (last, atomically)."""
    view = task.view
    records, geometry, matrices = [], {}, {}
    for fl in task.flashes:
        shot = _shot(view, fl)
        rel = crop_relpath(task.size, view, fl)
        rec = {
            "crop_path": "",
            "source_path": str(view.reldir / shot.filename),
            "flash": fl,
            "status": "ok",
            "landmark_source": source.get(fl, ""),
            "five": "",
            "matrix": "",
            "landmarks": "",
            "pose": "",
            "alpha_path": "",
        }
        if images.get(fl) is None:
            rec["status"] = "unreadable"
        elif five.get(fl) is None:
            rec["status"] = "no_landmarks"
        else:
            try:
                exact = source[fl] in ("sidecar", "mtcnn", "mtcnn_view")
                if view.camera == FRONTAL_CAMERA and exact:
                    m = frontal_transform(five[fl], task.size)
                else:
                    m = pose_transform(five[fl], task.size)
            except AlignmentError as e:
                rec["status"] = f"alignment_failed: {e}"
            else:
                write_png(task.out / rel, warp(images[fl], m, task.size))  # never an old crop of other source images
                rec["crop_path"] = str(rel)
                rec["five"] = " ".join(f"{v:.2f}" for v in np.asarray(five[fl]).ravel())
                rec["matrix"] = " ".join(f"{v:.6g}" for v in m.ravel())
                matrices[fl] = m
                # the flashes of a view share their landmarks (sidecar, camera prior): fit the pose once
                key = (np.asarray(five[fl]).tobytes(), m.tobytes(), exact)
                if key not in geometry:
                    camera = CAMERA_BY_NAME[view.camera]
                    geometry[key] = _crop_geometry(five[fl], m, task.size, exact, camera.yaw, camera.elevation)
                rec.update(geometry[key])
        records.append(rec)
    alpha_problem = _crop_alpha(task, matrices, records)
    doc = {"version": RECORD_VERSION, "size": task.size, "flashes": list(task.flashes), "sources": _source_stamps(task),
           "landmarks": _landmark_mode(task), "records": records, "alpha_problem": alpha_problem}
    atomic_write_text(task.record, json.dumps(doc))
    return records


def _crop_alpha(task: ViewTask, matrices: dict[int, np.ndarray], records: list[dict]) -> str:
    """Crop the view's subject mask, if it has one, and name it in its cropped records; '' or what went wrong.

    One crop per view, with one alignment: the flashes of a view share their landmarks where the data gives them
    (SynthPIE's sidecar, the camera prior), so their matrices are one.  Where MTCNN fitted each flash on its own they
    differ by a pixel or so, and the mask follows the gallery flash's matrix (the first cropped flash's, if the gallery
    flash has none): the crop lines up with that flash's crop exactly and with the others' to MTCNN's jitter.
    """
    view = task.view
    source = task.data_dir / view.reldir / (view.stem + ALPHA_SUFFIX)
    if not matrices or not source.exists():
        return ""
    try:
        mask = read_mask(source)
    except ImageProblem as e:
        return f"subject mask unreadable: {e}"
    m = matrices.get(task.gallery_flash, next(iter(matrices.values())))
    rel = alpha_crop_relpath(task.size, view)
    write_png(task.out / rel, warp(mask, m, task.size))
    for rec in records:
        if rec["crop_path"]:
            rec["alpha_path"] = str(rel)
    return ""


def _crop_geometry(five: np.ndarray, matrix: np.ndarray, size: int, exact: bool, yaw: int, elevation: int) -> dict:
    """What the frontal warp needs, stored so that training and evaluation never detect again: the five
    landmarks in crop coordinates and the pose of the reference face that explains them (geometry/pose.py)."""
    pose, landmarks = crop_pose(transform_points(five, matrix), size, exact, yaw, elevation)
    return {"landmarks": format_landmarks(landmarks), "pose": " ".join(f"{a:.1f}" for a in pose.angles)}


def dataset_identity(data_dir: Path) -> str:
    """Who the tree's people are: a photo-pairs tree's are its photographs' ("photo pairs <hash of the photos>",
    data/pairs_tree.py), SynthPIE's subjects are a function of its format and seed (any preset), else the tree is
    taken for Multi-PIE.  Networks record it; evaluation compares subject ids only within one dataset."""
    pairs = pairs_marker(Path(data_dir).parent)
    if pairs is not None:
        return pairs_dataset_name(pairs)
    marker = Path(data_dir).parent / MARKER
    if marker.exists():
        meta = json.loads(marker.read_text())
        return f"SynthPIE v{meta.get('version')} seed {meta.get('seed')}"
    return "Multi-PIE"


# ------------------------------------------------------------------ camera prior
class CameraPrior:
    """Typical eye and mouth positions per camera, and each recording's offset from them."""

    def __init__(self, reservoir: int = 4000, seed: int = 0):
        self.samples: dict[str, list] = defaultdict(list)
        self.seen: Counter = Counter()
        self.by_recording: dict[tuple, dict[str, np.ndarray]] = defaultdict(dict)
        self.reservoir = reservoir
        self.rng = np.random.default_rng(seed)

    def add(self, view: ViewKey, detections: list) -> None:
        for eye, mouth in detections:
            self.seen[view.camera] += 1
            item = np.concatenate([eye, mouth])
            bucket = self.samples[view.camera]
            if len(bucket) < self.reservoir:
                bucket.append(item)
            else:  # reservoir sampling keeps memory bounded on 750k images
                j = self.rng.integers(self.seen[view.camera])
                if j < self.reservoir:
                    bucket[j] = item
        if detections:
            eyes = np.mean([d[0] for d in detections], axis=0)
            self.by_recording[(view.subject, view.session, view.recording)][view.camera] = eyes

    def median(self, camera: str) -> np.ndarray | None:
        known = [c for c in self.samples if self.samples[c]]
        if not known:
            return None
        yaw = CAMERA_BY_NAME[camera].yaw
        nearest = min(known, key=lambda c: (abs(CAMERA_BY_NAME[c].yaw - yaw), c != camera))
        return np.median(np.stack(self.samples[nearest]), axis=0)

    def estimate(self, view: ViewKey) -> np.ndarray | None:
        """Five points (eyes at the eye midpoint, mouth corners at the mouth midpoint) for a missed view."""
        base = self.median(view.camera)
        if base is None:
            return None
        offset = np.zeros(2)
        here = self.by_recording.get((view.subject, view.session, view.recording), {})
        if here:
            yaw = CAMERA_BY_NAME[view.camera].yaw
            cam = min(here, key=lambda c: abs(CAMERA_BY_NAME[c].yaw - yaw))
            ref = self.median(cam)
            offset = here[cam] - ref[:2]
        eye, mouth = base[:2] + offset, base[2:] + offset
        return np.stack([eye, eye, (eye + mouth) / 2, mouth, mouth])


# -------------------------------------------------------------------- the job
def prepare(cfg: PrepConfig) -> dict:
    inv = scan(cfg.root)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report"
    report.mkdir(exist_ok=True)
    _write_inventory(inv, report)

    views = protocol_views(inv, cfg.protocols)
    tasks = [ViewTask(inv.data_dir, out, v, inv.flashes[v], cfg.size, cfg.landmarks, cfg.detect_per_view, cfg.gallery_flash)
             for v in views]
    prior = CameraPrior()
    waiting: list[ViewResult] = []
    cached = 0
    with tqdm(total=sum(len(inv.flashes[v]) for v in views), unit="img", desc=f"prepare {cfg.size}px",
              disable=not cfg.progress) as bar:
        for res in _map(process_view, tasks, cfg.workers):
            prior.add(res.view, res.detections)
            cached += res.cached
            if res.records is None:
                waiting.append(res)
            bar.update(len(inv.flashes[res.view]))
    by_key = {t.view: t for t in tasks}
    for res in waiting:
        task = by_key[res.view]
        estimate = prior.estimate(res.view)
        images = {fl: _read_image(task.data_dir / res.view.reldir / _shot(res.view, fl).filename) for fl in task.flashes}
        five = {fl: estimate for fl in task.flashes if estimate is not None}
        _finish_view(task, images, five, {fl: "camera_prior" for fl in five})

    index_path = out / f"index_{cfg.size}.csv"
    status_counts, source_counts, problems, alpha_crops = _write_index(views, out, cfg.size, index_path, report)
    manifests = _write_manifests(inv, index_path, out, cfg)
    atomic_write_text(out / f"regions_{cfg.size}.json", json.dumps(
        {"size": cfg.size, "template": np.round(template_points(cfg.size), 3).tolist(), "boxes": region_boxes(cfg.size)},
        indent=1))
    summary = {
        "data_dir": str(inv.data_dir),
        "size": cfg.size,
        "images": inv.images,
        "views": len(views),
        "views_outside_protocols": len(inv.views) - len(views),
        "views_reused": cached,
        "status": dict(status_counts),
        "landmark_source": dict(source_counts),
        "problems": problems,
        "alpha_crops": alpha_crops,
        "stray_files": len(inv.stray),
        "gallery_flash": cfg.gallery_flash,
        "manifests": manifests,
    }
    # what this run reused is about the run, not the data: kept out of the file so re-runs leave it unchanged
    atomic_write_text(out / f"prep_{cfg.size}.json", json.dumps({k: v for k, v in summary.items() if k != "views_reused"}, indent=1))
    if cfg.preview:
        from frontalize.preparation.preview import write_preview

        summary["preview"] = str(write_preview(out, index_path, cfg.size))
    return summary


def _map(fn, items, workers):
    if workers <= 1:
        yield from map(fn, items)
        return
    with get_context("fork").Pool(workers, initializer=_worker_init) as pool:
        yield from pool.imap(fn, items, chunksize=4)


def _worker_init():
    import torch

    torch.set_num_threads(1)  # one process per core already


def _write_inventory(inv: Inventory, report: Path) -> None:
    counts = inv.counts()
    gaps = inv.gaps()
    counts["gaps"] = len(gaps)
    atomic_write_text(report / "inventory.json", json.dumps(counts, indent=1))
    atomic_write_text(report / "gaps.txt", "\n".join(gaps) + ("\n" if gaps else ""))
    atomic_write_text(report / "stray_files.txt", "\n".join(inv.stray) + ("\n" if inv.stray else ""))


def protocol_views(inv: Inventory, protocols) -> list[ViewKey]:
    """The views some requested protocol uses (a session, recording and camera it includes): the others (session 02's
    surprise, a protocol not asked for) are not prepared; the summary counts them."""
    wanted = [PROTOCOLS[name] for name in protocols]
    return [v for v in inv.views if any(p.includes(v.session, v.recording, v.camera) for p in wanted)]


def _write_index(views: list[ViewKey], out: Path, size: int, index_path: Path, report: Path):
    status_counts, source_counts = Counter(), Counter()
    problems = alpha_crops = 0
    with atomic_open(index_path, "w") as f, atomic_open(report / "problems.csv", "w") as g:
        w = csv.DictWriter(f, fieldnames=INDEX_FIELDS)
        pw = csv.writer(g)
        w.writeheader()
        pw.writerow(["source_path", "problem"])
        for view in views:
            doc = json.loads(record_path(out, size, view).read_text())
            alpha_crops += any(rec["alpha_path"] for rec in doc["records"])
            if doc["alpha_problem"]:
                pw.writerow([str(view.reldir / (view.stem + ALPHA_SUFFIX)), doc["alpha_problem"]])
            for rec in doc["records"]:
                row = {
                    **rec,
                    "subject": view.subject,
                    "session": view.session,
                    "recording": view.recording,
                    "expression": expression(view.session, view.recording),
                    "camera": view.camera,
                    "yaw": CAMERA_BY_NAME[view.camera].yaw,
                }
                w.writerow(row)
                status_counts[rec["status"]] += 1
                if rec["status"] == "ok":
                    source_counts[rec["landmark_source"]] += 1
                else:
                    problems += 1
                    pw.writerow([rec["source_path"], rec["status"]])
    return status_counts, source_counts, problems, alpha_crops


def _write_manifests(inv: Inventory, index_path: Path, out: Path, cfg: PrepConfig) -> dict:
    subjects_by_session = {s: inv.subjects(s) for s in inv.sessions}
    # a photo-pairs tree's people are training subjects only (its marker says so): no protocol tests on them
    training_only = every_subject_trains(pairs_marker(Path(inv.data_dir).parent))
    splits = {}
    skipped = {}
    for name in cfg.protocols:
        proto = PROTOCOLS[name]
        have = [s for s in inv.sessions if proto.sessions is None or s in proto.sessions]
        if len(have) < proto.min_sessions:
            skipped[name] = f"needs {proto.min_sessions} sessions, the data has {len(have)}"
            continue
        try:
            splits[name] = make_split(proto, subjects_by_session, training_only)
        except ValueError as e:
            skipped[name] = str(e)
    tallies = {n: Counter() for n in splits}
    galleries = {n: set() for n in splits}
    missing_targets = Counter()
    with (ManifestWriter(out, list(splits), cfg.size, cfg.gallery_flash, dataset_identity(inv.data_dir)) as manifests,
          open(index_path, newline="") as f):
        for row in csv.DictReader(f):
            if row["status"] != "ok":
                continue
            subject, session, recording = int(row["subject"]), int(row["session"]), int(row["recording"])
            flash, camera = int(row["flash"]), row["camera"]
            target = str(crop_relpath(cfg.size, ViewKey(subject, session, recording, FRONTAL_CAMERA), flash))
            has_target = (out / target).exists()
            for name, split in splits.items():
                if not split.protocol.includes(session, recording, camera):
                    continue
                which = split.split_of(subject)
                if which is None:
                    continue
                if which == "train":
                    role = "train"
                elif split.is_gallery(subject, session, recording, camera, flash, cfg.gallery_flash):
                    role = "gallery"
                    galleries[name].add((subject, recording))
                else:
                    role = "probe"
                if not has_target:
                    missing_targets[name] += 1
                manifests.write(name, {
                    "crop_path": row["crop_path"], "subject": subject, "session": session, "recording": recording,
                    "expression": row["expression"], "camera": camera, "yaw": row["yaw"], "flash": flash,
                    "split": which, "role": role, "target_path": target if has_target else "",
                    "landmark_source": row["landmark_source"], "source_path": row["source_path"],
                    "landmarks": row["landmarks"], "pose": row["pose"], "alpha_path": row["alpha_path"],
                })
                tallies[name][(which, role, int(row["yaw"]))] += 1
    result = {}
    for name, split in splits.items():
        without_gallery = sorted({s for s in split.test} - {s for s, _ in galleries[name]})
        summary = {
            "split": split.describe(),
            "train_subjects": len(split.train),
            "test_subjects": len(split.test),
            "scaled": split.scaled,
            "rows": sum(tallies[name].values()),
            "by_split_role_yaw": {f"{k[0]}/{k[1]}/{k[2]:+d}": v for k, v in sorted(tallies[name].items())},
            "test_subjects_without_gallery": without_gallery,
            "rows_without_target": missing_targets[name],
        }
        atomic_write_text(out / "report" / f"summary_{name}_{cfg.size}.json", json.dumps(summary, indent=1))
        result[name] = summary
    for name, why in skipped.items():
        result[name] = {"skipped": why}
    return result
