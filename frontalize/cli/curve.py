"""`frontalize curve RUN_DIR --judge RECOGNIZER`: a GAN run's time-to-quality curve.

Every step checkpoint's shipped (moving-average) generator frontalizes the run's validation probes (the training
subjects it held out); the independent judge's rank-1 (all, -45, +45) and SSIM to the frontal target (face box,
whole crop) against training minutes, beside the warp alone and the raw probes.  Writes curve.csv, curve.json,
curve.png and curve.md (default: RUN_DIR/curve).  Exit 2 for a missing run, checkpoint, judge or data, a judge
that trained on the validation subjects or is not independent of the run's recognizer, and a judge or checkpoint
whose record cannot show whom it saw (none, or data from elsewhere) unless ``--external`` declares it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="a GAN run folder (checkpoints/step_*.pt, metrics.jsonl, config.yaml)")
    p.add_argument("--judge", type=Path, required=True, metavar="RECOGNIZER",
                   help="the independent judge's checkpoint (configs/recognizer_synthpie_judge.yaml), one that never "
                        "saw the run's validation subjects")
    p.add_argument("--external", type=Path, action="append", default=[], metavar="PATH",
                   help="declare the judge or checkpoint at PATH (a folder: every file in it) trained elsewhere, on people "
                        "the run does not validate on: taken without a training record that shows it, and named so in "
                        "the curve's header. Repeatable")
    p.add_argument("--prepared", type=Path, help="prepared-data folder (default: the run's)")
    p.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/curve)")
    p.add_argument("--max-probes-per-yaw", type=int, default=None,
                   help="a fixed random subset of validation probes per column (default: every one)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from frontalize.pipeline.curve import CurveRequest, time_to_quality

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda but no GPU is available", file=sys.stderr)
            return 2
    req = CurveRequest(args.run, args.judge, args.prepared, args.out, args.max_probes_per_yaw, args.device,
                       progress=not args.quiet, external=tuple(args.external))
    try:
        curve = time_to_quality(req)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(curve.paths["markdown"].read_text())
    print("wrote " + ", ".join(str(p) for p in curve.paths.values()))
    return 0
