"""A picture of SynthPIE subjects: one row per subject, one column per yaw, cut from a generated tree.

    python -m frontalize.synthpie.grid --root runs/demo/synthpie --out docs/img/synthpie_subjects.png
    python -m frontalize.synthpie.grid --root <sessions tree> --sessions --subjects 6 --out docs/img/synthpie_sessions.png

docs/img/synthpie_subjects.png is the first twelve subjects of `small` (seed 0), flash 07,
recording 01, at -90, -45, 0, +45 and +90 degrees: not a selection.  With ``--sessions``, one row per
subject and, for each session, its frontal and +45 degree views (recording 01): the first subjects who came
to every session of the tree (docs/img/synthpie_sessions.png: `sessions`, seed 0, not a selection).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from frontalize.data.images import read_rgb, write_png
from frontalize.data.multipie import FRONTAL_FLASH, ShotId, parse_relpath
from frontalize.synthpie import studio
from frontalize.synthpie.generate import landmark_path, read_attendance, read_sidecar

YAW_CAMERAS = ("11_0", "08_0", "05_1", "19_0", "24_0")  # -90, -45, 0, +45, +90
SESSION_CAMERAS = ("05_1", "19_0")  # 0, +45


def _head_tile(path: Path, tile: int) -> np.ndarray:
    """A square around the head (the upper two thirds of the studio's nominal frame), ``tile`` pixels wide: where
    the view was framed otherwise (v4 on), the same square of the head, read from the sidecar's camera."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: generate the tree first")
    img = read_rgb(path)
    h, w = img.shape[:2]
    side = 0.75 * h
    x0, y0 = (w - side) / 2, 0.02 * h
    scale, dx, dy = 1.0, 0.0, 0.0
    shot = parse_relpath(path)
    sidecar = path.parents[6] / landmark_path(shot) if len(path.parents) > 6 else None
    if sidecar is not None and sidecar.exists() and "camera" in (doc := read_sidecar(sidecar)):
        nominal = studio.camera_model(shot.camera, w, h, studio.RecordingPose(0.0, 0.0, 0.0, (0.0, 0.0, 0.0), 1.0))
        scale = doc["camera"]["focal_px"] / nominal.focal_px
        (cx, cy), (nx, ny) = doc["camera"]["principal_point"], (w / 2 - 0.5, h / 2 - 0.5)
        dx, dy = cx - nx - (scale - 1) * nx, cy - ny - (scale - 1) * ny
    # the nominal square under the view's framing (x' = scale x + d), the picture's edge repeated where it runs out
    left, top, size = round(scale * x0 + dx), round(scale * y0 + dy), round(scale * side)
    pad = max(0, -left, -top, left + size - w, top + size - h)
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    square = img[top + pad : top + pad + size, left + pad : left + pad + size]
    return cv2.resize(square, (tile, tile), interpolation=cv2.INTER_AREA)


def subject_grid(root: Path, subjects: list[int], cameras=YAW_CAMERAS, flash: int = FRONTAL_FLASH,
                 tile: int = 96, recording: int = 1) -> np.ndarray:
    """RGB image: one row per subject, one head tile per camera (session 01)."""
    return np.vstack([
        np.hstack([_head_tile(Path(root) / ShotId(s, 1, recording, cam, flash).relpath, tile) for cam in cameras])
        for s in subjects
    ])


def session_grid(root: Path, subjects: list[int], cameras=SESSION_CAMERAS, flash: int = FRONTAL_FLASH,
                 tile: int = 96) -> np.ndarray:
    """RGB image: one row per subject; for each session of the tree, a head tile per camera (recording 01), a
    dark one where the subject did not come; a thin gap between sessions."""
    attendance = read_attendance(root)
    gap = np.full((tile, 4, 3), 255, np.uint8)
    rows = []
    for s in subjects:
        blocks = []
        for session, ids in sorted(attendance.items()):
            tiles = [_head_tile(Path(root) / ShotId(s, session, 1, cam, flash).relpath, tile) if s in ids
                     else np.full((tile, tile, 3), 32, np.uint8) for cam in cameras]
            blocks += [np.hstack(tiles), gap]
        rows.append(np.hstack(blocks[:-1]))
    return np.vstack(rows)


def every_session_subjects(root: Path, n: int) -> list[int]:
    """The first ``n`` subjects of a tree who came to every one of its sessions."""
    attendance = read_attendance(root)
    return sorted(set.intersection(*(set(ids) for ids in attendance.values())))[:n]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, required=True, help="a SynthPIE tree (the folder holding data/)")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument("--subjects", type=int, default=12, help="the first N subjects (default 12)")
    p.add_argument("--tile", type=int, default=96, help="tile size in pixels (default 96)")
    p.add_argument("--sessions", action="store_true",
                   help="each session at 0 and +45 degrees, for the first subjects who came to every session")
    args = p.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.sessions:
        grid = session_grid(args.root, every_session_subjects(args.root, args.subjects), tile=args.tile)
    else:
        grid = subject_grid(args.root, list(range(1, args.subjects + 1)), tile=args.tile)
    write_png(args.out, grid)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
