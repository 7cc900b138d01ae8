"""Frontalize photos: detect (MTCNN), align exactly as preparation aligns inputs, run the generator.

``Frontalizer`` turns one photo into aligned face crops and a batch of crops into frontal faces, and says
what its generator was trained on; ``frontalize_files`` streams many photos through it in batches and writes
the results, reporting each file as it goes (the loop behind ``frontalize infer`` and its benchmark).

Alignment: preparation aligns the frontal camera's images with the five-point fit to the template and every
other view with the eye-mouth axis (preparation/prep.py).  A photo has no camera, so its own landmarks decide:
a face whose estimated yaw is nearer 0 than the neighbouring cameras' +-15 degrees (``FRONTAL_YAW``) is aligned
as the frontal camera's images are, any other as the other views.
"""
from __future__ import annotations

import glob
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from frontalize.config import from_yaml
from frontalize.data.align import AlignmentError, frontal_transform, pose_transform, transform_points, warp
from frontalize.data.images import PHOTO_SUFFIXES, ImageProblem, detection_copy, read_photo, to_tensor, to_uint8, write_png
from frontalize.face.detect import Detection
from frontalize.geometry.pose import IBUG_INNER, PoseError, crop_pose, detector_landmarks, estimate_pose, frontal_pose
from frontalize.geometry.shape import MAX_FIT_YAW, fit_reference
from frontalize.geometry.warp import FrontalWarp
from frontalize.models.factory import build_generator
from frontalize.models.refiner import WarpRefiner, learned_parts_note
from frontalize.runs import checkpoint as ckpt
from frontalize.runs.folders import NoCheckpoint
from frontalize.runs.provenance import RECORD_KEY, TrainedOn


def load_generator(path: Path, device) -> tuple[torch.nn.Module, object]:
    """The generator (eval mode, on ``device``) and its config."""
    return load_generator_with_record(path, device)[:2]


def load_generator_with_record(path: Path, device) -> tuple[torch.nn.Module, object, TrainedOn | None]:
    """The generator, its config and its training record (None for checkpoints written before the record)."""
    path = Path(path)
    if not path.exists():
        raise NoCheckpoint(f"checkpoint not found: {path}")
    state = ckpt.load(path)
    if "generator" not in state or "config" not in state:
        raise ValueError(f"{path} is not a frontalize GAN checkpoint (no generator/config inside)")
    cfg = from_yaml(state["config"])
    cfg.model.encoder_weights = None  # the checkpoint carries the trained encoder
    g = build_generator(cfg)
    # the moving average of the weights where training kept one (train.ema): it is what was evaluated
    g.load_state_dict(state.get("generator_ema", state["generator"]))
    record = state.get(RECORD_KEY)
    try:
        trained_on = TrainedOn.from_json(record) if record else None
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: its training record is unreadable ({e})") from None
    return g.to(device).eval(), cfg, trained_on


# A photo's face is aligned like the frontal camera's (05_1) images when its yaw is nearer 0 than the neighbouring
# cameras' +-15 degrees (14_0, 05_0).  Fitted to MTCNN's five points, SynthPIE's frontal faces pass 70 % of the time
# and its +-15-degree ones 11-13 % (docs/mtcnn_landmark_error.md): five detected points place a face no finer.
FRONTAL_YAW = 7.5


def align(five: np.ndarray, size: int) -> np.ndarray:
    """The 2x3 alignment preparation would give this face: the five-point fit if it looks frontal, else the eye-mouth
    axis.  The yaw is estimated in the eye-mouth crop, which every pose has (no pose fits: not frontal)."""
    m = pose_transform(five, size)
    try:
        yaw = estimate_pose(transform_points(five, m), size).angles[0]
    except PoseError:
        return m
    return frontal_transform(five, size) if abs(yaw) < FRONTAL_YAW else m


def collect_inputs(patterns: list[str], recursive: bool) -> tuple[list[Path], list[str]]:
    """Files, folders and globs -> image files (sorted, unique) and the arguments that matched nothing."""
    found, missing = [], []
    for pat in patterns:
        p = Path(pat)
        if p.is_dir():
            it = p.rglob("*") if recursive else p.iterdir()
            files = sorted(f for f in it if f.is_file() and f.suffix.lower() in PHOTO_SUFFIXES)
        elif p.is_file():
            files = [p]
        else:
            files = sorted(Path(f) for f in glob.glob(pat, recursive=True) if Path(f).is_file())
        if not files:
            missing.append(pat)
        found += files
    seen, unique = set(), []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, missing


@dataclass
class FaceCrop:
    source: Path
    index: int  # face number within the photo
    crop: np.ndarray  # RGB uint8, size x size
    pose: np.ndarray  # (12,) the reference face's pose in the crop, fitted to the detector's landmarks
    matrix: np.ndarray  # (2, 3) photo -> crop similarity
    inside: np.ndarray | None = None  # (size, size) float32: where the crop shows the photo (1) or lies beyond it (0)
    reference: object | None = None  # a ReferenceFace fitted to this face (geometry/shape.py); None: the mean


def inside_mask(photo_shape, matrix: np.ndarray, size: int) -> np.ndarray:
    """Where an aligned crop shows its photo: the photo's own pixels carried by the same matrix, 0 beyond its edge."""
    h, w = photo_shape[:2]
    return cv2.warpAffine(np.ones((h, w), np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


WARP_ONLY_SIZE = 128


class Frontalizer:
    """``checkpoint``: a generator; None: the geometric frontalization alone (``--warp-only``, at ``size`` px)."""

    def __init__(self, checkpoint: Path | None, device: str = "cpu", all_faces: bool = False, size: int | None = None,
                 debias: bool = False, fit_heads: bool = False, pose68: bool = False):
        t0 = time.perf_counter()
        # fit the pose to MTCNN's points with their drift towards frontal taken out (geometry/pose.py): the fitted yaw
        # comes closer to the truth, and the warp loses identity on real faces (docs/real_faces.md), so off by default
        self.debias = debias
        self.landmarks68 = None  # dlib's 68-point predictor, where heads are fitted to faces or poses to its points
        self.fit_heads = fit_heads and checkpoint is None  # warp only
        # the pose fitted to dlib's 51 inner points where the five-point yaw is within MAX_FIT_YAW (where they hold on
        # real faces): measured against the five-point pose in docs/real_faces.md, off by default
        self.pose68 = pose68
        if self.fit_heads or pose68:
            from frontalize.face.landmarks68 import Landmarks68

            self.landmarks68 = Landmarks68()
        self.device = torch.device(device)
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.trained_on: TrainedOn | None = None  # what the generator learned from, where its checkpoint records it
        if checkpoint is None:
            self.G, self.cfg, self.size = None, None, size or WARP_ONLY_SIZE
            self.warp = FrontalWarp(self.size).to(self.device)
        else:
            self.G, self.cfg, self.trained_on = load_generator_with_record(checkpoint, self.device)
            self.size, self.warp = self.cfg.data.size, None
        from frontalize.face.detect import FaceDetector  # loads MTCNN's weights

        self.detector = FaceDetector(device=device)
        self.edges = True  # pixels beyond the photo's edge are unseen (geometry/warp.py); off only to measure it
        self.all_faces = all_faces
        self.load_seconds = time.perf_counter() - t0

    @property
    def uses_pose(self) -> bool:
        return self.G is None or self.G.warp is not None

    @property
    def synthetic(self) -> bool:
        """Whether the generator learned from SynthPIE's synthetic faces only (every dataset of its run)."""
        return self.trained_on is not None and all(p.dataset.startswith("SynthPIE") for p in self.trained_on.parts)

    def describe(self) -> str:
        """What frontalizes: the checkpoint and what it was trained on (else what its config says), or the warp."""
        if self.G is None:
            return f"the geometric frontalization (warp only, no training) at {self.size} px"
        parts = f" ({learned_parts_note(self.G.switched_off)})" if isinstance(self.G, WarpRefiner) else ""
        if self.trained_on is not None:
            return f"model {self.checkpoint}{parts}, trained on {self.trained_on.describe()}"
        return (f"model {self.checkpoint}{parts}: {self.cfg.setting}, protocol {self.cfg.data.protocol}, {self.size} px "
                "(from its config); training data not recorded")

    def crops(self, path: Path) -> list[FaceCrop]:
        """Detect on a downscaled copy, align on the original; raises ImageProblem when there is no face."""
        rgb = read_photo(path)
        return self.crops_of(rgb, self.detect(rgb), path)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """The faces MTCNN finds in a photo (on a downscaled copy), in the photo's own pixels."""
        small, scale = detection_copy(rgb)
        return [Detection(d.box / scale, d.score, d.five / scale) for d in self.detector.detect([small])[0]]

    def crops_of(self, rgb: np.ndarray, detections: list[Detection], source: Path) -> list[FaceCrop]:
        """The aligned crop of the largest detected face (every face with ``all_faces``); raises ImageProblem when
        there is none, or when the one face cannot be aligned."""
        if not detections:
            raise ImageProblem("no face found")
        chosen = sorted(detections, key=lambda d: -d.area) if self.all_faces else [max(detections, key=lambda d: d.area)]
        out = []
        for k, d in enumerate(chosen):
            try:
                m = align(d.five, self.size)
                pose = self.pose(transform_points(d.five, m)) if self.uses_pose else frontal_pose(self.size)
            except (AlignmentError, PoseError) as e:
                if not self.all_faces:
                    raise ImageProblem(f"face found but not alignable ({e})") from None
                continue
            reference = None
            if self.landmarks68 is not None and self.uses_pose and abs(pose.angles[0]) <= MAX_FIT_YAW:
                points68 = transform_points(self.landmarks68(rgb, d.box), m)
                try:
                    if self.pose68:
                        pose = estimate_pose(points68[IBUG_INNER], self.size)
                    if self.fit_heads:
                        fitted = fit_reference(points68, self.size, pose)
                        pose, reference = fitted.pose, fitted.reference
                except PoseError:
                    pass  # the five-point pose (and the mean head)
            out.append(FaceCrop(source, k, warp(rgb, m, self.size), pose.as_vector(), m, inside_mask(rgb.shape, m, self.size),
                                reference))
        return out

    def pose(self, five: np.ndarray):
        """The pose of a crop from MTCNN's five points in it."""
        return crop_pose(detector_landmarks(five, self.size) if self.debias else five, self.size)[0]

    @torch.no_grad()
    def frontalize(self, crops: list[FaceCrop]) -> list[np.ndarray]:
        x = torch.stack([to_tensor(c.crop) for c in crops]).to(self.device)
        pose = torch.from_numpy(np.stack([c.pose for c in crops])).to(self.device) if self.uses_pose else None
        inside = None
        if self.uses_pose and self.edges and any(c.inside is not None and c.inside.min() < 1 for c in crops):
            inside = torch.from_numpy(np.stack([np.ones((self.size, self.size), np.float32) if c.inside is None
                                                else c.inside for c in crops]))[:, None].to(self.device)
        if self.G is not None:
            y = self.G(x, pose, inside)[-1]
        else:
            y = self.warp(x, pose, inside).picture
            for i, c in enumerate(crops):  # a face with a head of its own is warped with it
                if c.reference is not None:
                    own = FrontalWarp(self.size, c.reference).to(self.device)
                    y[i] = own(x[i : i + 1], pose[i : i + 1], None if inside is None else inside[i : i + 1]).picture[0]
        return [to_uint8(t) for t in y]


@dataclass
class FileOutcome:
    path: Path
    error: str | None  # None: every face found was frontalized
    outputs: list[Path]
    faces: list[FaceCrop] = field(default_factory=list)  # the crop behind each output


@dataclass
class RunTotals:
    files: int = 0
    ok: int = 0
    failed: int = 0
    faces: int = 0
    seconds: float = 0.0  # detection, alignment, generation and writing; model loading excluded


def frontalize_files(engine: Frontalizer, files: list[Path], out: Path, side_by_side: bool = False,
                     batch_size: int = 16, on_file: Callable[[FileOutcome], None] = lambda _: None) -> RunTotals:
    """Frontalize every face of every file into ``out`` (``<stem>_frontal.png``, ``<stem>_side.png``).

    Files that fail (unreadable, no face) are reported through ``on_file`` and counted, never fatal.
    Faces wait for a full batch before the generator runs; their outputs are written as it returns.
    """
    totals = RunTotals(files=len(files))
    pending: list[tuple[FaceCrop, Path, Path | None]] = []

    def flush() -> None:
        if pending:
            for (crop, front, side), y in zip(pending, engine.frontalize([c for c, _, _ in pending])):
                write_png(front, y)
                if side is not None:
                    write_png(side, np.concatenate([crop.crop, y], axis=1))
                totals.faces += 1
            pending.clear()

    t0 = time.perf_counter()
    for f, stem in zip(files, _unique_stems(files)):
        try:
            crops = engine.crops(f)
        except ImageProblem as e:
            totals.failed += 1
            on_file(FileOutcome(f, str(e), []))
            continue
        outputs = []
        for c in crops:
            name = f"{stem}_face{c.index}" if engine.all_faces else stem
            outputs.append(out / f"{name}_frontal.png")
            pending.append((c, outputs[-1], out / f"{name}_side.png" if side_by_side else None))
        if len(pending) >= batch_size:
            flush()
        totals.ok += 1
        on_file(FileOutcome(f, None, outputs, crops))
    flush()
    totals.seconds = time.perf_counter() - t0
    return totals


def _unique_stems(files: list[Path]) -> Iterator[str]:
    """photo.jpg and photo.png from different folders must not write over each other's results."""
    used: set[str] = set()
    for f in files:
        stem = f.stem
        while stem in used:
            stem += "_"
        used.add(stem)
        yield stem
