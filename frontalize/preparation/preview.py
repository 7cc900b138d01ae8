"""`--preview`: a PNG grid of a few subjects per camera with landmarks and region boxes drawn; where the tree has
several sessions, a second one with a few subjects' frontal crops in every session and recording they attended."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from frontalize.data.align import transform_points
from frontalize.data.images import read_rgb, write_png
from frontalize.data.multipie import CAMERA_BY_NAME, FRONTAL_CAMERA, FRONTAL_FLASH
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
    """``preview_<size>.png`` (returned) and, for a tree with several sessions, ``preview_sessions_<size>.png``."""
    write_session_preview(out, index_path, size)
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


def _frontal_by_visit(index_path: Path) -> dict[int, dict[tuple[int, int], dict]]:
    """Subject -> (session, recording) -> its frontal crop's row, under the frontal flash where present."""
    found: dict[int, dict[tuple[int, int], dict]] = defaultdict(dict)
    with open(index_path, newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] != "ok" or row["camera"] != FRONTAL_CAMERA:
                continue
            key = (int(row["session"]), int(row["recording"]))
            visits = found[int(row["subject"])]
            if key not in visits or int(row["flash"]) == FRONTAL_FLASH:
                visits[key] = row
    return found


def _session_subjects(found: dict, n_subjects: int) -> list[int]:
    """Those who came to the most sessions (lowest ids first), and one whose earliest session is a later one."""
    sessions = {s: {ses for ses, _ in visits} for s, visits in found.items()}
    first = min(min(v) for v in sessions.values())
    chosen = sorted(found, key=lambda s: (-len(sessions[s]), s))[: n_subjects - 1]
    late = next((s for s in sorted(found) if min(sessions[s]) != first and s not in chosen), None)
    extra = late if late is not None else next((s for s in sorted(found) if s not in chosen), None)
    return sorted(chosen + ([extra] if extra is not None else []))


def write_session_preview(out: Path, index_path: Path, size: int, n_subjects: int = 4) -> Path | None:
    """``preview_sessions_<size>.png``: one row per subject, one column per (session, recording), the frontal
    crop of each visit (what changed between sessions, the face that stayed); None for a one-session tree."""
    found = _frontal_by_visit(index_path)
    if len({ses for visits in found.values() for ses, _ in visits}) < 2:
        return None
    subjects = _session_subjects(found, n_subjects)
    columns = sorted({key for s in subjects for key in found[s]})
    tile = max(size, 96)
    canvas = np.full((len(subjects) * (tile + 18), len(columns) * tile, 3), 32, np.uint8)
    for i, s in enumerate(subjects):
        y = i * (tile + 18)
        for j, (session, recording) in enumerate(columns):
            row = found[s].get((session, recording))
            label = f"{s:03d} s{session:02d} r{recording:02d}"
            cv2.putText(canvas, label, (j * tile + 2, y + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (230, 230, 230), 1)
            if row is None:
                cv2.putText(canvas, "absent", (j * tile + tile // 2 - 16, y + 18 + tile // 2),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.3, (150, 150, 150), 1)
            else:
                img = cv2.resize(read_rgb(out / row["crop_path"]), (tile, tile), interpolation=cv2.INTER_AREA)
                canvas[y + 18 : y + 18 + tile, j * tile : (j + 1) * tile] = img
    path = out / f"preview_sessions_{size}.png"
    write_png(path, canvas)
    return path
