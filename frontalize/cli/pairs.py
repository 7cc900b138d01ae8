"""`frontalize pairs` / `python data_prep/pairs.py`: a Multi-PIE-layout tree rendered from frontal photographs.

Each frontal photo becomes a subject: camera 05_1 is its aligned face, the other head-height cameras its head turned
with the reference head (frontalize/pairs/tree.py).  Prepare the tree as any other: every subject lands in the
training split, under the dataset name "photo pairs <hash>".

Exit code: 0 when the tree holds at least one subject, 1 when no photo was a frontal face, 2 for usage errors (nothing
to read, an output folder that is not a pairs tree or of other photos, one inside the photo folders).
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from frontalize.data.multipie import FLASHES

MIN_SIZE = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--photos", nargs="+", required=True, metavar="PATH",
                   help="face photos: files, folders or glob patterns (any count, any size)")
    p.add_argument("--out", type=Path, required=True, help="the tree to write (gets pairs.json and data/session01/...)")
    p.add_argument("--size", type=int, default=None,
                   help="side of the square frames in pixels, the template crop's framing (default 256; a re-run "
                        "takes the tree's)")
    p.add_argument("--flash", type=int, default=None, choices=FLASHES, metavar="FF",
                   help="the flash number in the file names (default 07, the frontal flash; a re-run takes the tree's)")
    p.add_argument("--recursive", action="store_true", help="look into sub-folders of folder arguments")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no line per photo")


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0].split(" (")[0]


def run(args: argparse.Namespace) -> int:
    from frontalize.inference.frontalizer import collect_inputs
    from frontalize.pairs.tree import PairsError, build_tree

    if args.size is not None and args.size < MIN_SIZE:
        print(f"error: --size must be at least {MIN_SIZE}", file=sys.stderr)
        return 2
    files, missing = collect_inputs(args.photos, args.recursive)
    for m in missing:
        print(f"{m}: no such file, or no images in it", file=sys.stderr)
    if not files:
        print("error: no photos to read", file=sys.stderr)
        return 2
    folders = [Path(p) for p in args.photos if Path(p).is_dir()]

    def report(entry) -> None:
        if args.quiet:
            return
        if entry.subject is not None:
            pose = entry.pose or {}
            print(f"ok   {entry.path}: subject {entry.subject:03d} (fitted yaw {pose.get('yaw', 0):+.1f})")
        else:
            print(f"skip {entry.path}: {entry.skipped}")

    print(f"{len(files)} photos -> {args.out}")
    try:
        summary = build_tree(files, args.out, args.size, args.flash, folders, progress=not args.quiet, on_photo=report)
    except PairsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    reasons = Counter(_reason_kind(p.skipped) for p in summary.skipped)
    skipped = f" ({', '.join(f'{n} {why}' for why, n in sorted(reasons.items()))})" if reasons else ""
    print(f"{len(summary.subjects)} of {len(summary.photos)} photos became subjects, {len(summary.skipped)} skipped{skipped}")
    per_photo = f", {summary.seconds / len(summary.rendered):.1f} s per subject" if summary.rendered else ""
    print(f"rendered {len(summary.rendered)} subjects ({len(summary.finished_before)} finished before) in "
          f"{summary.seconds:.1f} s{per_photo}; {summary.size} px frames, flash {summary.flash:02d}")
    print("round trip (non-frontal photos turned to the front and back): not rendered; this layout's targets are frontal")
    print(f"dataset: {summary.dataset}; every subject trains. Prepare it with: "
          f"frontalize prep --root {summary.out} --out PREPARED --size 128 --protocols setting1 session01")
    return 0 if summary.subjects else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pairs", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))
