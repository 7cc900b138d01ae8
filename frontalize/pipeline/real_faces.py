"""`frontalize eval --protocol pointing04`: the real-face benchmark of the warp and a generator, and its files.

Reads Pointing'04 (data/pointing04.py; the repository vendors its tilt-0 frames), describes the gallery, streams
every probe through the views of evaluation/real_faces.py under both conditions (full frames, tight crops) and
writes the report (evaluation/real_faces_report.py).  dlib's descriptor is the only judge: no training in this
project uses it, and it was trained on real faces.  Pointing'04 is for measuring only: nothing trains on it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from frontalize.data.images import ImageProblem, read_photo
from frontalize.data.pointing04 import Frame, default_root, read_frames, split
from frontalize.evaluation.real_faces import (
    CONDITIONS, FUSIONS, Pipeline, ProbeResult, RealFaceTally, abs_yaw_key, as_condition, describe_probe,
    gallery_descriptors,
)
from frontalize.evaluation.real_faces_report import write_real_face_report

SAMPLE_SERIES = 2
DISPLAY_MARGIN = 2.0  # a full frame's sample tile shows the face with this much context


@dataclass
class RealFaceRequest:
    root: Path | None = None  # default: the vendored tilt-0 frames
    checkpoint: Path | None = None  # a generator; None: raw and warp only
    out: Path = Path("runs/real_faces")
    tilt: int = 0
    conditions: tuple[str, ...] = CONDITIONS
    device: str = "cpu"
    progress: bool = True
    limit: int | None = None  # score only the first N probes (smoke runs); the header says so


@dataclass
class RealFaceReport:
    tally: RealFaceTally
    paths: dict[str, Path]
    header: list[str]
    seconds: float
    missing: list[str] = field(default_factory=list)


def sample_frame(probes: list[Frame], key: str) -> Frame | None:
    """The probe shown for one |yaw| in the grid: series 2, the nose to the image's right, a person per |yaw| so the
    grid shows several people (fixed, not a selection)."""
    yaw = int(key)
    people = sorted({f.person for f in probes})
    person = people[(yaw // 15) % len(people)]
    for f in probes:
        if f.person == person and f.series == SAMPLE_SERIES and f.yaw == yaw:
            return f
    return None


def display(frame: Frame, rgb, condition: str):
    if condition == "tight":
        return as_condition(frame, rgb, condition).rgb
    from frontalize.data.pointing04 import tight_square

    left, top, side = tight_square(frame.face_box, rgb.shape, DISPLAY_MARGIN)
    return rgb[top : top + side, left : left + side]


def real_face_report(req: RealFaceRequest) -> RealFaceReport:
    from frontalize.face.dlib_identity import DlibJudge
    from frontalize.inference.frontalizer import Frontalizer

    t0 = time.perf_counter()
    root = Path(req.root or default_root())
    found = read_frames(root, req.tilt)
    gallery, probes = split(found.frames)
    if req.limit:
        probes = probes[: req.limit]
    judge = DlibJudge()
    pipelines = [Pipeline("warp", Frontalizer(None, req.device))]
    networks = [f"warp only: {pipelines[0].engine.describe()}"]
    if req.checkpoint is not None:
        pipelines.append(Pipeline("frontalized", Frontalizer(req.checkpoint, req.device)))
        networks.append(f"frontalized: {pipelines[-1].engine.describe()}")
    views = ["raw", *[p.name for p in pipelines], *[f for f, v in FUSIONS.items() if v in {p.name for p in pipelines}]]
    tally = RealFaceTally(gallery_descriptors(judge, gallery, req.conditions))
    wanted = {abs_yaw_key(f.yaw) for f in probes}
    shown = {k: sample_frame(probes, k) for k in wanted}
    samples: dict[str, dict] = {c: {} for c in req.conditions}
    unreadable = []
    for frame in tqdm(probes, desc="Pointing'04", unit="probe", disable=not req.progress):
        try:
            rgb = read_photo(frame.path)
        except ImageProblem as e:
            unreadable.append(f"{frame.name}: {e}")
            for c in req.conditions:
                problem = {v: f"unreadable ({e})" for v in views if v != "raw"}
                tally.add(ProbeResult(frame, c, {}, problem, None), views)
            continue
        key = abs_yaw_key(frame.yaw)
        for c in req.conditions:
            keep = shown.get(key) is frame
            result = describe_probe(judge, as_condition(frame, rgb, c), pipelines, keep_tiles=keep)
            tally.add(result, views)
            if keep:
                gallery_rgb = read_photo(gallery[frame.person].path)
                samples[c][key] = {**result.tiles, "input": display(frame, rgb, c),
                                   "gallery": display(gallery[frame.person], gallery_rgb, c)}
    people = len(gallery)
    header = [f"Frames: `{root}`, tilt {req.tilt}: {people} people; gallery: each person's series-1 frontal frame; "
              f"{len(probes)} probes" + (f" (the first {req.limit} only)" if req.limit else "") + ". Judge: dlib's "
              "ResNet descriptor (face_recognition_models 0.3.0), which no training here uses. Raw probes are "
              "described in dlib's own detection, else the database's face box; frontalized ones in the template's "
              "face box. A probe the pipeline cannot process counts as a miss."]
    if found.missing:
        header.append(f"{len(found.missing)} frames listed in labels.csv are missing on disk and not scored: "
                      + ", ".join(found.missing[:5]) + (" ..." if len(found.missing) > 5 else ""))
    if unreadable:
        header.append(f"{len(unreadable)} probes could not be read (misses for every view): " + "; ".join(unreadable[:3]))
    paths = write_real_face_report(tally, req.out, header, samples, networks)
    return RealFaceReport(tally, paths, header, time.perf_counter() - t0, found.missing)
