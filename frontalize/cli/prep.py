"""`frontalize prep` / `python data_prep/multipie.py`: aligned crops and protocol manifests from a Multi-PIE tree.

Without --root, SynthPIE `small` is generated beside the output folder and prepared instead.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from frontalize.preparation.prep import PrepConfig, prepare
from frontalize.data.protocols import DEFAULT_GALLERY_FLASH, PROTOCOLS
from frontalize.data.scan import LayoutError

DEFAULT_OUT = Path("runs/demo/prepared")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, help="Multi-PIE root (the folder holding data/, or data/ itself); "
                   "default: generate SynthPIE `small` next to --out and use it")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"prepared-data folder (default: {DEFAULT_OUT})")
    p.add_argument("--size", type=int, default=None,
                   help="crop side in pixels: 224 for the paper configuration (default with --root), "
                        "64/128 for CPU configurations (default 128 on SynthPIE)")
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=list(PROTOCOLS))
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel processes (default: all cores)")
    p.add_argument("--landmarks", choices=["auto", "sidecar", "mtcnn"], default="auto",
                   help="auto: SynthPIE ground truth where present, else MTCNN (default); mtcnn: MTCNN everywhere, as "
                        "real Multi-PIE is prepared (the demo prepares SynthPIE so)")
    p.add_argument("--detect-per-view", type=int, default=None, metavar="N",
                   help="run MTCNN on at most N flashes of each camera view (the gallery flash first), the others "
                        "taking their median: the flashes of a view were shot within a second (default: every flash)")
    p.add_argument("--gallery-flash", type=int, default=DEFAULT_GALLERY_FLASH,
                   help="flash of the gallery image, recorded in the manifests (07; some papers use 06)")
    p.add_argument("--preview", action="store_true",
                   help="write preview_<size>.png with landmarks and region boxes (and, for several sessions, "
                        "preview_sessions_<size>.png: a few subjects' frontal crops in each session)")
    p.add_argument("--quiet", action="store_true")


def _print_inventory(out: Path) -> None:
    inv = json.loads((out / "report" / "inventory.json").read_text())
    print(f"found {inv['images']} images of {inv['subjects']} subjects ({inv['gaps']} gaps listed in report/gaps.txt)")
    for key in ("by_session", "by_recording", "by_camera", "by_flash"):
        print(f"  {key.replace('_', ' ')}: " + ", ".join(f"{k} {v}" for k, v in inv[key].items()))


def _print_summary(summary: dict) -> None:
    print(f"{summary['images']} images in {summary['views']} views ({summary['views_reused']} views already done)")
    print(f"status: {summary['status']}   landmark sources: {summary['landmark_source']}")
    if summary["problems"]:
        print(f"{summary['problems']} images skipped: see report/problems.csv")
    if summary["alpha_crops"]:
        print(f"subject masks cropped for {summary['alpha_crops']} views (alpha_path in the index and manifests)")
    if summary["stray_files"]:
        print(f"{summary['stray_files']} stray files ignored: see report/stray_files.txt")
    for name, m in summary["manifests"].items():
        if "skipped" in m:
            print(f"  {name}: skipped ({m['skipped']})")
            continue
        roles = {}
        for key, n in m["by_split_role_yaw"].items():
            split, role, _ = key.split("/")
            roles[role] = roles.get(role, 0) + n
        print(f"  {m['split']}: {m['rows']} rows {roles}")
        per_pose: dict = {}
        for key, n in m["by_split_role_yaw"].items():
            split, role, yaw = key.split("/")
            per_pose.setdefault(yaw, {}).setdefault(role, 0)
            per_pose[yaw][role] += n
        print("    by yaw: " + "; ".join(f"{y} " + "/".join(f"{r} {n}" for r, n in sorted(v.items()))
                                       for y, v in sorted(per_pose.items(), key=lambda kv: int(kv[0]))))
        if m["test_subjects_without_gallery"]:
            print(f"    test subjects without a gallery image: {m['test_subjects_without_gallery']}")


def run(args: argparse.Namespace) -> int:
    root = args.root
    size = args.size
    if root is None:
        from frontalize.pipeline.data import DEFAULT_PRESET, DEFAULT_SIZE, default_synthpie_root, generate_default
        from frontalize.synthpie.generate import SynthPIEError

        size = size or DEFAULT_SIZE
        print(f"no --root given: preparing the embedded default, SynthPIE `{DEFAULT_PRESET}`, at {default_synthpie_root(args.out)}")
        try:
            root = generate_default(args.out, workers=args.workers, progress=not args.quiet)
        except SynthPIEError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    size = size or 224
    cfg = PrepConfig(root=root, out=args.out, size=size, protocols=tuple(args.protocols), workers=args.workers,
                     landmarks=args.landmarks, detect_per_view=args.detect_per_view, gallery_flash=args.gallery_flash, preview=args.preview,
                     progress=not args.quiet)
    try:
        summary = prepare(cfg)
    except LayoutError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _print_inventory(args.out)
    _print_summary(summary)
    print(f"wrote {args.out}/manifests/*_{size}.csv and {args.out}/prep_{size}.json")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="multipie", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))
