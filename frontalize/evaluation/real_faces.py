"""Identity on real photographs: rank-1 by |yaw| on Pointing'04 with dlib's descriptor, which no training here uses.

The protocol (data/pointing04.py): each person's series-1 frontal frame is the gallery, every other frame of the
tilt a probe.  Each probe is given to the pipeline exactly as a user's photo is given to ``frontalize infer``
(inference/frontalizer.py: MTCNN, alignment, pose, warp, generator), under two **conditions**:

  full    the 384x288 frame as it is (the face and its context)
  tight   the frame cut to a tight 128-px square about the database's face box (1.15 x its larger side), as
          published frontalization data comes: the pipeline sees nothing beyond it

**Views** of a probe, each described by dlib (face/dlib_identity.py):
  raw          the photo itself: dlib's own detection (its HOG detector), else the database's face box
  warp         the geometric frontalization (no learning)
  frontalized  a generator checkpoint's output, where one is given
  fused        raw and frontalized together (the mean of their descriptors); ``warp_fused`` likewise
A frontalized picture is described in the template's face box (data/template.py ``FACE_BOX``): no detection.
A probe the pipeline cannot process (no face found, no alignment) is a miss for every view it would have made, and
counted as such (``unprocessed``): coverage is part of the figure, never a silent drop.

The gallery is described under the same condition (its frame, or its tight crop), raw.  A probe is a hit when its
nearest gallery descriptor (Euclidean, as dlib draws its 0.6 line) is its own person's.  Beside rank-1: the distance
to the own person's gallery and to the others' (medians), the pose fitted to the detector's landmarks against the
label, and one sample per |yaw| for the grid.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from frontalize.data.images import ImageProblem, read_photo
from frontalize.data.pointing04 import TIGHT_SIZE, Frame, tight_crop
from frontalize.evaluation.intervals import Share, mcnemar

CONDITIONS = ("full", "tight")
CONDITION_LABELS = {"full": "full frames (384×288)", "tight": f"tight {TIGHT_SIZE}-px face crops"}
VIEW_ORDER = ("raw", "warp", "frontalized", "fused", "warp_fused")
VIEW_LABELS = {"raw": "raw", "warp": "warp only", "frontalized": "frontalized", "fused": "raw+frontalized fusion",
               "warp_fused": "raw+warp fusion"}
FUSIONS = {"fused": "frontalized", "warp_fused": "warp"}  # fusion view -> the pipeline view fused with raw
ALL = "all"
# SynthPIE v1-v3's studio grey in 8-bit (synthpie/render.py kept it at 0.42 of full scale): the value a refiner
# trained on them learned to paint beyond the face (issue 27)
SYNTHPIE_BACKDROP = 107


@dataclass
class Photo:
    """A probe or gallery frame as one condition shows it: the picture and the database's face box in its pixels."""

    frame: Frame
    condition: str
    rgb: np.ndarray
    box: tuple[float, float, float, float]


def as_condition(frame: Frame, rgb: np.ndarray, condition: str) -> Photo:
    if condition == "full":
        return Photo(frame, condition, rgb, frame.face_box)
    if condition == "tight":
        crop, m = tight_crop(rgb, frame.face_box)
        x0, y0, x1, y1 = frame.face_box
        (a, b), (c, d) = (np.array([[x0, y0], [x1, y1]]) @ m[:, :2].T + m[:, 2]).tolist()
        return Photo(frame, condition, crop, (a, b, c, d))
    raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, not {condition!r}")


@dataclass
class Pipeline:
    """A view made by frontalizing: its name ("warp", "frontalized") and the engine (inference/frontalizer.py)."""

    name: str
    engine: object  # Frontalizer


@dataclass
class ProbeResult:
    frame: Frame
    condition: str
    descriptors: dict[str, np.ndarray]  # view -> descriptor (absent: the view could not be made)
    problems: dict[str, str]  # view -> why it could not be made
    fitted_yaw: float | None  # the pose the warp used, fitted to the detector's landmarks (None: not processed)
    tiles: dict[str, np.ndarray] = field(default_factory=dict)  # view -> picture (input: "input"), kept for samples
    backdrop: dict[str, float] = field(default_factory=dict)  # view ("aligned": the input crop) -> backdrop_gap


def raw_box(judge, photo: Photo) -> tuple[float, float, float, float]:
    """dlib's largest detection, else the database's box (how a raw probe is described)."""
    found = judge.find_faces(photo.rgb)
    return found[0] if found else photo.box


def describe_raw(judge, photo: Photo) -> np.ndarray:
    return judge.describe(photo.rgb, raw_box(judge, photo))


def describe_probe(judge, photo: Photo, pipelines: list[Pipeline], keep_tiles: bool = False) -> ProbeResult:
    """Every view of one probe and its dlib descriptor; the pipelines share one detection."""
    from frontalize.data.template import crop_face_box

    result = ProbeResult(photo.frame, photo.condition, {"raw": describe_raw(judge, photo)}, {}, None)
    if keep_tiles:
        result.tiles["input"] = photo.rgb
    detections: dict[int, list] = {}  # pipelines that share a detector share its detections
    for p in pipelines:
        key = id(p.engine.detector)
        if key not in detections:
            detections[key] = p.engine.detect(photo.rgb)
        try:
            crop = p.engine.crops_of(photo.rgb, detections[key], photo.frame.path)[0]
        except ImageProblem as e:
            result.problems[p.name] = str(e)
            continue
        picture = p.engine.frontalize([crop])[0]
        result.descriptors[p.name] = judge.describe(picture, crop_face_box(p.engine.size))
        result.backdrop[p.name] = backdrop_gap(picture)
        result.backdrop.setdefault("aligned", backdrop_gap(crop.crop))
        if p.name == "warp" or result.fitted_yaw is None:
            result.fitted_yaw = pose_yaw(crop.pose)
        if keep_tiles:
            result.tiles[p.name] = picture
    for fused, view in FUSIONS.items():
        if view in result.descriptors:
            result.descriptors[fused] = (result.descriptors["raw"] + result.descriptors[view]) / 2
        elif view in result.problems:
            result.problems[fused] = result.problems[view]
    return result


def backdrop_gap(picture: np.ndarray) -> float:
    """How far a picture's surroundings lie from SynthPIE's studio grey: the median, over the pixels outside the
    template's face box (hair, neck, background), of the mean absolute difference of their channels from
    ``SYNTHPIE_BACKDROP`` (8-bit).  A photo's own scene gives its own figure; a refiner that paints the studio grey
    over it brings the figure towards 0."""
    from frontalize.data.template import crop_face_box

    h, w = picture.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in crop_face_box(w))
    outside = np.ones((h, w), bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    gap = np.abs(picture.astype(np.float32) - SYNTHPIE_BACKDROP).mean(axis=2)
    return float(np.median(gap[outside]))


def pose_yaw(pose_vector: np.ndarray) -> float:
    from frontalize.geometry.pose import Pose

    v = np.asarray(pose_vector, np.float64)
    return Pose(v[:9].reshape(3, 3), v[9:12]).angles[0]


def abs_yaw_key(yaw: int) -> str:
    return str(abs(int(yaw)))


def key_order(key: str) -> tuple:
    return (1, 0) if key == ALL else (0, int(key))


@dataclass
class ViewTally:
    hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    probes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unprocessed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    same: dict[str, list] = field(default_factory=lambda: defaultdict(list))  # distance to the own gallery
    other: dict[str, list] = field(default_factory=lambda: defaultdict(list))  # distances to the others' galleries

    def share(self, key: str) -> Share:
        return Share(self.hits[key], self.probes[key])


class RealFaceTally:
    """Rank-1 and distances per condition, view and |yaw| (and "all"), from probe results as they come."""

    def __init__(self, gallery: dict[str, dict[int, np.ndarray]]):
        self.gallery = gallery  # condition -> person -> descriptor
        self.views: dict[str, dict[str, ViewTally]] = defaultdict(lambda: defaultdict(ViewTally))
        self.fitted: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))  # condition -> |yaw| -> (error, outward)
        self.rows: list[dict] = []  # one per probe and view: the per-probe CSV
        self.backdrop: dict[str, dict[str, dict[str, list]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))

    def add(self, result: ProbeResult, views: list[str]) -> None:
        people = sorted(self.gallery[result.condition])
        stack = np.stack([self.gallery[result.condition][p] for p in people])
        key = abs_yaw_key(result.frame.yaw)
        for view in views:
            tally = self.views[result.condition][view]
            d = result.descriptors.get(view)
            row = {"condition": result.condition, "view": view, "file": result.frame.name,
                   "person": result.frame.person, "yaw": result.frame.yaw}
            for k in (key, ALL):
                tally.probes[k] += 1
            if d is None:
                for k in (key, ALL):
                    tally.unprocessed[k] += 1
                self.rows.append({**row, "processed": 0, "nearest": "", "hit": 0, "own_distance": "",
                                  "problem": result.problems.get(view, "")})
                continue
            dist = np.linalg.norm(stack - d, axis=1)
            own = people.index(result.frame.person)
            nearest = people[int(np.argmin(dist))]
            hit = nearest == result.frame.person
            for k in (key, ALL):
                tally.hits[k] += int(hit)
                tally.same[k].append(float(dist[own]))
                tally.other[k].extend(float(x) for i, x in enumerate(dist) if i != own)
            self.rows.append({**row, "processed": 1, "nearest": nearest, "hit": int(hit),
                              "own_distance": round(float(dist[own]), 4), "problem": ""})
        for view, gap in result.backdrop.items():
            for k in (key, ALL):
                self.backdrop[result.condition][view][k].append(gap)
        if result.fitted_yaw is not None:
            err = result.fitted_yaw - result.frame.yaw
            outward = float(np.sign(result.frame.yaw)) * err  # > 0: turned further than the label, 0 at 0 deg
            for k in (key, ALL):
                self.fitted[result.condition][k].append((err, outward))

    def keys(self, condition: str) -> list[str]:
        return sorted({k for t in self.views[condition].values() for k in t.probes}, key=key_order)

    def table(self, condition: str) -> dict:
        """{view: {|yaw| key: {rate, low, high, hits, probes, unprocessed, same_median, other_median}}}."""
        out = {}
        for view in sorted(self.views[condition], key=lambda v: VIEW_ORDER.index(v) if v in VIEW_ORDER else 99):
            t = self.views[condition][view]
            out[view] = {}
            for k in self.keys(condition):
                s = t.share(k)
                lo, hi = s.interval
                out[view][k] = {"rate": s.rate, "low": lo, "high": hi, "hits": s.hits, "probes": s.n,
                                "unprocessed": t.unprocessed[k],
                                "same_median": float(np.median(t.same[k])) if t.same[k] else None,
                                "other_median": float(np.median(t.other[k])) if t.other[k] else None}
        return out

    def paired(self, condition: str, a: str, b: str) -> dict:
        """{|yaw| key: {only_a, only_b, p}}: the probes view ``a`` identifies and ``b`` does not, the reverse (a probe
        a view could not process is a miss), and the exact McNemar p-value of the difference."""
        hits: dict[str, dict] = defaultdict(dict)  # view -> file -> (hit, yaw)
        for r in self.rows:
            if r["condition"] == condition and r["view"] in (a, b):
                hits[r["view"]][r["file"]] = (r["hit"], r["yaw"])
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for file, (hit_a, yaw) in hits[a].items():
            hit_b = hits[b].get(file, (hit_a, yaw))[0]
            if hit_a != hit_b:
                for k in (abs_yaw_key(yaw), ALL):
                    counts[k][0 if hit_a else 1] += 1
        return {k: {"only_a": counts[k][0], "only_b": counts[k][1], "p": mcnemar(*counts[k])}
                for k in self.keys(condition)}

    def backdrop_gaps(self, condition: str) -> dict:
        """{view ("aligned" first): {|yaw| key: median backdrop_gap}}."""
        views = sorted(self.backdrop[condition], key=lambda v: (v != "aligned", VIEW_ORDER.index(v) if v in VIEW_ORDER else 99))
        return {v: {k: float(np.median(self.backdrop[condition][v][k]))
                    for k in sorted(self.backdrop[condition][v], key=key_order)} for v in views}

    def fitted_yaw(self, condition: str) -> dict:
        """{|yaw| key: {median_abs_error, median_outward, n}}: the warp's fitted yaw against the label; a negative
        outward error means the fit turned the head less than the label says (0 at 0 deg)."""
        out = {}
        for k in sorted(self.fitted[condition], key=key_order):
            errs = np.asarray(self.fitted[condition][k])
            out[k] = {"median_abs_error": float(np.median(np.abs(errs[:, 0]))),
                      "median_outward": float(np.median(errs[:, 1])), "n": int(len(errs))}
        return out


def gallery_descriptors(judge, gallery: dict[int, Frame], conditions, read: Callable[[Path], np.ndarray] = read_photo
                        ) -> dict[str, dict[int, np.ndarray]]:
    """condition -> person -> the gallery frame's raw descriptor under that condition."""
    out: dict[str, dict[int, np.ndarray]] = {c: {} for c in conditions}
    for person, frame in gallery.items():
        rgb = read(frame.path)
        for c in conditions:
            out[c][person] = describe_raw(judge, as_condition(frame, rgb, c))
    return out
