"""`frontalize infer PATH...`: frontalize the faces in photos (files, folders, globs).

Exit code: 0 when every file succeeded, 1 when some failed (no face, unreadable, ...), 2 for usage
errors (nothing to read, no checkpoint, an output folder that holds the inputs).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--checkpoint", type=Path, help="generator checkpoint (default: the newest run's best, else latest)")
    p.add_argument("--out", type=Path, help="output folder (default: a new 'frontalized' folder beside the inputs' folder)")
    p.add_argument("--side-by-side", action="store_true", help="also write input crop | frontalized")
    p.add_argument("--all-faces", action="store_true", help="every face in a photo, not only the largest")
    p.add_argument("--recursive", action="store_true", help="look into sub-folders of folder arguments")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch-size", type=int, default=16)


def default_out(first: Path) -> Path:
    base = first.resolve().parent.parent / "frontalized"
    out, k = base, 2
    while out.exists():
        out = base.with_name(f"frontalized-{k}")
        k += 1
    return out


def run(args: argparse.Namespace) -> int:
    from frontalize.face.images import ImageProblem
    from frontalize.inference.frontalizer import Frontalizer, NoCheckpoint, collect_inputs, find_checkpoint, write_png

    files, missing = collect_inputs(args.paths, args.recursive)
    for m in missing:
        print(f"{m}: no such file, or no images in it", file=sys.stderr)
    if not files:
        print("error: nothing to frontalize", file=sys.stderr)
        return 2
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda but no GPU is available", file=sys.stderr)
            return 2
    out = (args.out or default_out(files[0])).resolve()
    inputs = {f.resolve() for f in files}
    if any(i.parent == out for i in inputs):
        print(f"error: --out {out} holds input images; choose another folder (inputs are never overwritten)", file=sys.stderr)
        return 2
    try:
        checkpoint = args.checkpoint or find_checkpoint()
        engine = Frontalizer(checkpoint, args.device, args.all_faces)
    except (NoCheckpoint, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    print(f"model {checkpoint} ({engine.size}px) loaded in {engine.load_seconds:.1f} s; writing to {out}")
    ok_files, failed, faces, t_work = 0, 0, 0, 0.0
    pending: list = []  # crops waiting for a full batch: (crop, output names)

    def flush():
        nonlocal faces
        if not pending:
            return
        results = engine.frontalize([c for c, _ in pending])
        for (crop, (front_path, side_path)), y in zip(pending, results):
            write_png(front_path, y)
            if side_path is not None:
                write_png(side_path, np.concatenate([crop.crop, y], axis=1))
            faces += 1
        pending.clear()

    names_used: set[str] = set()
    for f in files:
        t0 = time.perf_counter()
        try:
            crops = engine.crops(f)
        except ImageProblem as e:
            failed += 1
            print(f"FAIL {f}: {e}")
            t_work += time.perf_counter() - t0
            continue
        stem = f.stem
        while stem in names_used:  # photo.jpg and photo.png in different folders
            stem += "_"
        names_used.add(stem)
        written = []
        for c in crops:
            suffix = f"_face{c.index}" if args.all_faces else ""
            front = out / f"{stem}{suffix}_frontal.png"
            side = out / f"{stem}{suffix}_side.png" if args.side_by_side else None
            pending.append((c, (front, side)))
            written.append(front.name)
        if len(pending) >= args.batch_size:
            flush()
        t_work += time.perf_counter() - t0
        ok_files += 1
        print(f"ok   {f}: {len(crops)} face(s) -> {', '.join(written)}")
    t0 = time.perf_counter()
    flush()
    t_work += time.perf_counter() - t0
    rate = faces / t_work if t_work > 0 else 0.0
    print(f"{ok_files} of {len(files)} files frontalized ({faces} faces, {failed} failed) in {t_work:.1f} s "
          f"({rate:.1f} faces/s, model loading {engine.load_seconds:.1f} s not included)")
    return 0 if failed == 0 and not missing else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="frontalize infer", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))
