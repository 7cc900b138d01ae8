"""`frontalize infer PATH...`: frontalize the faces in photos (files, folders, globs).

Exit code: 0 when every file succeeded, 1 when some failed (no face, unreadable, ...), 2 for usage
errors (nothing to read, no checkpoint, an output folder that holds the inputs).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


SYNTHETIC_WARNING = (
    "warning: this generator learned from synthetic faces only (SynthPIE); on photos of real people it may not keep "
    "who they are (on Pointing'04's real people no learned refiner has yet beaten the geometry alone: README, "
    "\"Real faces\"). --warp-only frontalizes with the geometry alone and needs no training."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--checkpoint", type=Path, help="generator checkpoint (default: the newest GAN run's best, else latest)")
    p.add_argument("--warp-only", action="store_true",
                   help="the geometric frontalization alone (a 3D reference face, the pose from the landmarks, mirrored "
                        "filling): no checkpoint needed")
    p.add_argument("--size", type=int, default=None, help="crop size for --warp-only (default 128)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where to look for the newest GAN run (default: runs)")
    p.add_argument("--out", type=Path, help="output folder (default: a new 'frontalized' folder beside the inputs' folder)")
    p.add_argument("--side-by-side", action="store_true", help="also write input crop | frontalized")
    p.add_argument("--all-faces", action="store_true", help="every face in a photo, not only the largest")
    p.add_argument("--recursive", action="store_true", help="look into sub-folders of folder arguments")
    p.add_argument("--check-identity", action="store_true",
                   help="judge each output against its own input photo with dlib's face descriptor, which no training "
                        "here uses; prints each distance, dlib's same-person line (0.6) and a summary (needs the "
                        "optional extra: pip install 'frontalize[judge]')")
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
    from frontalize.inference.frontalizer import Frontalizer, collect_inputs, frontalize_files
    from frontalize.runs.folders import NoCheckpoint, newest_generator_checkpoint

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
    if any(f.resolve().parent == out for f in files):
        print(f"error: --out {out} holds input images; choose another folder (inputs are never overwritten)", file=sys.stderr)
        return 2
    if args.warp_only and args.checkpoint:
        print("error: --warp-only uses no checkpoint; leave out --checkpoint", file=sys.stderr)
        return 2
    judge = None
    if args.check_identity:
        from frontalize.face.dlib_identity import DlibJudge, JudgeMissing

        try:
            judge = DlibJudge()
        except JudgeMissing as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    try:
        checkpoint = None if args.warp_only else args.checkpoint or newest_generator_checkpoint(args.runs_dir)
        engine = Frontalizer(checkpoint, args.device, args.all_faces, args.size)
    except (NoCheckpoint, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    print(engine.describe())
    if engine.synthetic:
        print(SYNTHETIC_WARNING, file=sys.stderr)
    print(f"loaded in {engine.load_seconds:.1f} s; writing to {out}")

    written = []  # (input photo, photo -> crop matrix, output) per face, for --check-identity

    def report(outcome) -> None:
        if outcome.error:
            print(f"FAIL {outcome.path}: {outcome.error}")
        else:
            print(f"ok   {outcome.path}: {len(outcome.outputs)} face(s) -> {', '.join(p.name for p in outcome.outputs)}")
            written.extend((outcome.path, c.matrix, o) for c, o in zip(outcome.faces, outcome.outputs))

    totals = frontalize_files(engine, files, out, args.side_by_side, args.batch_size, on_file=report)
    rate = totals.faces / totals.seconds if totals.seconds > 0 else 0.0
    print(f"{totals.ok} of {totals.files} files frontalized ({totals.faces} faces, {totals.failed} failed) in "
          f"{totals.seconds:.1f} s ({rate:.1f} faces/s, model loading {engine.load_seconds:.1f} s not included)")
    if judge is not None:
        from frontalize.inference.identity import check_identity

        print(check_identity(judge, written, engine.size, on_face=lambda r: print(r.line())).line())
    return 0 if totals.failed == 0 and not missing else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="frontalize infer", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))
