"""The realism bar: does a detector trained on real photos find SynthPIE faces where we put them?

MTCNN must find the face in at least 90 % of the frontal and +-15-degree
images, and the median distance between its five landmarks and the ground
truth must stay under 10 % of the inter-ocular distance.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from frontalize.data.images import read_rgb
from frontalize.data.landmarks import interocular
from frontalize.data.multipie import CAMERA_BY_NAME, CAMERAS, parse_filename
from frontalize.data.scan import ALPHA_SUFFIX
from frontalize.synthpie.generate import landmark_path, read_sidecar

BAR_CAMERAS = ("14_0", "05_1", "05_0")  # frontal and +-15 degrees
BAR_DETECTION_RATE = 0.90
BAR_MEDIAN_ERROR = 0.10


def sample_images(root: Path, per_camera: int, seed: int = 0) -> list[Path]:
    """An even sample of images per camera (every camera present in the tree)."""
    rng = np.random.default_rng(seed)
    by_cam = defaultdict(list)
    for p in sorted(Path(root, "data").glob("session*/multiview/*/*/*/*.png")):
        if not p.name.endswith(ALPHA_SUFFIX):  # the view's subject mask is no image
            by_cam[p.parent.name].append(p)
    picked = []
    for cam in sorted(by_cam):
        paths = by_cam[cam]
        k = min(per_camera, len(paths))
        picked += [paths[i] for i in sorted(rng.choice(len(paths), k, replace=False))]
    return picked


def measure(root: Path, paths: list[Path], detector, batch: int = 16) -> dict:
    """Detection rate and landmark error by camera (the best-scoring face per image)."""
    root = Path(root)
    found, errors, total = defaultdict(int), defaultdict(list), defaultdict(int)
    for i in range(0, len(paths), batch):
        chunk = paths[i : i + batch]
        images = [read_rgb(p) for p in chunk]
        for p, dets in zip(chunk, detector.detect(images)):
            shot = parse_filename(p.name)
            total[shot.camera] += 1
            if not dets:
                continue
            found[shot.camera] += 1
            gt = np.asarray(read_sidecar(root / landmark_path(shot))["five"])
            errors[shot.camera].append(float(np.median(np.linalg.norm(dets[0].five - gt, axis=1)) / interocular(gt)))
    cams = [c.name for c in CAMERAS if total.get(c.name)]
    per_camera = {
        c: {
            "yaw": CAMERA_BY_NAME[c].yaw,
            "images": total[c],
            "detection_rate": found[c] / total[c],
            "median_error_iod": float(np.median(errors[c])) if errors[c] else None,
        }
        for c in cams
    }
    bar_total = sum(total[c] for c in BAR_CAMERAS)
    bar_errors = [e for c in BAR_CAMERAS for e in errors[c]]
    summary = {
        "bar_detection_rate": sum(found[c] for c in BAR_CAMERAS) / bar_total if bar_total else None,
        "bar_median_error_iod": float(np.median(bar_errors)) if bar_errors else None,
        "per_camera": per_camera,
    }
    summary["passes"] = bool(
        bar_total
        and summary["bar_detection_rate"] >= BAR_DETECTION_RATE
        and summary["bar_median_error_iod"] is not None
        and summary["bar_median_error_iod"] <= BAR_MEDIAN_ERROR
    )
    return summary
