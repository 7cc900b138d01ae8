"""Geometry benchmarks: how well pose comes from landmarks (per camera), and how fast the frontal warp runs."""
from __future__ import annotations

import statistics
import time
from collections import defaultdict

import numpy as np
import torch

from frontalize.bench.prep import synthpie_subset
from frontalize.bench.registry import benchmark
from frontalize.data.align import pose_transform, transform_points
from frontalize.data.multipie import CAMERA_BY_NAME, CAMERAS
from frontalize.geometry.pose import Pose, estimate_pose, frontal_pose, rotation_from_angles
from frontalize.geometry.warp import FrontalWarp
from frontalize.synthpie.generate import read_sidecar

SIZE = 128


def yaw_errors(root, landmarks: str) -> dict[str, list[float]]:
    """|estimated - true| yaw per camera; true = the camera's yaw minus the recording's head turn (sidecar)."""
    errors = defaultdict(list)
    for path in sorted(root.glob("data/session01/multiview/*/*/*/*_landmarks.json")):
        doc = read_sidecar(path)
        camera = CAMERA_BY_NAME[path.parent.name]
        five = np.asarray(doc["five"])
        crop = pose_transform(five, SIZE)  # the crop preparation makes, from the same landmarks
        points = five if landmarks == "five" else np.asarray(doc["ibug68"])
        yaw = estimate_pose(transform_points(points, crop), SIZE).angles[0]
        errors[camera.name].append(abs(yaw - (camera.yaw - doc["head_pose"]["yaw"])))
    return errors


@benchmark("geometry_pose_yaw_error_deg", "median |yaw error| per camera, pose from SynthPIE's ground-truth 5 and 68 landmarks")
def pose_error(quick: bool) -> dict:
    root = synthpie_subset(4 if quick else 24)
    out = {}
    for landmarks in ("five", "ibug68"):
        errors = yaw_errors(root, landmarks)
        out[landmarks] = {c.name: {"yaw": c.yaw, "elevation": c.elevation, "median_error_deg": round(float(np.median(errors[c.name])), 2),
                                   "p90_error_deg": round(float(np.percentile(errors[c.name], 90)), 2)}
                          for c in CAMERAS if errors.get(c.name)}
    head_height = [v["median_error_deg"] for v in out["five"].values() if v["elevation"] == 0]
    return {"geometry_pose_yaw_error_deg": round(float(np.median(head_height)), 2), "by_camera": out,
            "note": "the headline: median over the head-height cameras of each camera's median error, 5 landmarks"}


@benchmark("warp_images_per_s", "the frontal warp (grid, visibility, mirrored filling) of 128 px crops, batch 32, CPU, 2 threads")
def warp_speed(quick: bool) -> dict:
    torch.set_num_threads(2)
    warp = FrontalWarp(SIZE)
    rng = np.random.default_rng(0)
    poses = torch.from_numpy(np.stack([Pose(rotation_from_angles(y), frontal_pose(SIZE).translation).as_vector()
                                       for y in rng.uniform(-90, 90, 32)]))
    x = torch.rand(32, 3, SIZE, SIZE) * 2 - 1
    times = []
    for i in range(4 if quick else 12):
        t0 = time.perf_counter()
        warp(x, poses)
        if i:
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {"warp_images_per_s": round(32 / median, 1), "batch": 32, "size": SIZE, "median_s": round(median, 4),
            "repeats": len(times)}
