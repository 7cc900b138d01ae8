"""`--preview`: a PNG grid of a few subjects per camera with landmarks and region boxes drawn."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from frontalize.data.align import transform_points
from frontalize.data.images import read_rgb, write_png
from frontalize.data.multipie import CAMERA_BY_NAME, FRONTAL_FLASH
from frontalize.data.template import region_boxes

BOX_COLOURS = {"eyes": (80, 80, 255), "nose": (80, 255, 80), "mouth": (255, 160, 80), "face": (0, 255, 255)}  # RGB
LANDMARK_COLOUR = (255, 0, 0)


def _pick(index_path: Path, n_subjects: int) -> dict[tuple[int, str], dict]:
    """One row per (subject, camera) for the first subjects: the frontal flash where present."""
    chosen: dict[tuple[int, str], dict] = {}
    subjects: list[int] = []
    with open(index_path, newline="") as f:
        for row in csv.DictReader(f):
            s = int(row["subject"])
            if row["status"] != "ok" or row["recording"] != "1":
                continue
            if s not in subjects:
                if len(subjects) == n_subjects:
                    continue
                subjects.append(s)
            key = (s, row["camera"])
            if key not in chosen or int(row["flash"]) == FRONTAL_FLASH:
                chosen[key] = row
    return chosen


def write_preview(out: Path, index_path: Path, size: int, n_subjects: int = 3) -> Path:
    chosen = _pick(index_path, n_subjects)
    subjects = sorted({s for s, _ in chosen})
    cameras = sorted({c for _, c in chosen}, key=lambda c: (CAMERA_BY_NAME[c].elevation, CAMERA_BY_NAME[c].yaw))
    boxes = region_boxes(size)
    tile = max(size, 96)
    canvas = np.full((len(subjects) * (tile + 18), len(cameras) * tile, 3), 32, np.uint8)
    for i, s in enumerate(subjects):
        for j, cam in enumerate(cameras):
            row = chosen.get((s, cam))
            if row is None:
                continue
            img = read_rgb(out / row["crop_path"])
            m = np.array([float(v) for v in row["matrix"].split()]).reshape(2, 3)
            five = np.array([float(v) for v in row["five"].split()]).reshape(5, 2)
            for x, y in transform_points(five, m):
                cv2.circle(img, (int(round(x)), int(round(y))), max(1, size // 64), LANDMARK_COLOUR, -1)
            for name, (x0, y0, x1, y1) in boxes.items():
                cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), BOX_COLOURS[name], 1)
            img = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_NEAREST)
            y = i * (tile + 18)
            canvas[y + 18 : y + 18 + tile, j * tile : (j + 1) * tile] = img
            label = f"{s:03d} {cam} {CAMERA_BY_NAME[cam].yaw:+d} {row['landmark_source']}"
            cv2.putText(canvas, label, (j * tile + 2, y + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (230, 230, 230), 1)
    path = out / f"preview_{size}.png"
    write_png(path, canvas)
    return path
