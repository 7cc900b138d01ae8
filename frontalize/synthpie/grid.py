"""A picture of SynthPIE subjects: one row per subject, one column per yaw, cut from a generated tree.

    python -m frontalize.synthpie.grid --root runs/demo/synthpie --out docs/img/synthpie_subjects.png

docs/img/synthpie_subjects.png is the first twelve subjects of `small` (seed 0), flash 07,
recording 01, at -90, -45, 0, +45 and +90 degrees: not a selection.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from frontalize.data.images import read_rgb, write_png
from frontalize.data.multipie import FRONTAL_FLASH, ShotId

YAW_CAMERAS = ("11_0", "08_0", "05_1", "19_0", "24_0")  # -90, -45, 0, +45, +90


def subject_grid(root: Path, subjects: list[int], cameras=YAW_CAMERAS, flash: int = FRONTAL_FLASH,
                 tile: int = 96, recording: int = 1) -> np.ndarray:
    """RGB image: a square around the head of each shot (the upper two thirds of the frame), ``tile`` pixels wide."""
    rows = []
    for subject in subjects:
        row = []
        for camera in cameras:
            path = Path(root) / ShotId(subject, 1, recording, camera, flash).relpath
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing: generate the tree first")
            img = read_rgb(path)
            h, w = img.shape[:2]
            side = int(0.75 * h)
            x0, y0 = (w - side) // 2, int(0.02 * h)
            row.append(cv2.resize(img[y0 : y0 + side, x0 : x0 + side], (tile, tile), interpolation=cv2.INTER_AREA))
        rows.append(np.hstack(row))
    return np.vstack(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, required=True, help="a SynthPIE tree (the folder holding data/)")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument("--subjects", type=int, default=12, help="the first N subjects (default 12)")
    p.add_argument("--tile", type=int, default=96, help="tile size in pixels (default 96)")
    args = p.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid = subject_grid(args.root, list(range(1, args.subjects + 1)), tile=args.tile)
    write_png(args.out, grid)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
