"""`frontalize eval --checkpoint C --protocol setting1` (also `python scripts/evaluate.py`): the identity report.

Rank-1 by yaw for raw probes and their frontalized versions with the shared recognizer and the
protocol's gallery; identity cosine and L1/PSNR/SSIM on the face box against the frontal target.
Writes Markdown, CSV, a PNG chart and a sample grid per column; logs them to W&B when asked.  Refuses (exit 2)
any network whose training record shows a subject the protocol tests, or that has no record that shows whom it saw
(unless ``--external PATH`` declares it), a judge that is not independent, and manifests without a dataset.

``--protocol pointing04`` is the real-face benchmark instead (pipeline/real_faces.py): Pointing'04's real people
(``--root``, default the tilt-0 frames the repository vendors), rank-1 by |yaw| with dlib's descriptor for raw
probes, the warp alone, ``--checkpoint``'s generator and their fusions, on full frames and tight 128-px crops.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path,
                   help="generator checkpoint (default: the best, else latest, checkpoint of the newest GAN run whose "
                        "training record suits --protocol: it never saw a subject that protocol tests)")
    p.add_argument("--protocol", default=None,
                   help="setting1 | session01 | setting2 (default: the checkpoint's) | pointing04 (real photographs: "
                        "the real-face benchmark, judged by dlib)")
    p.add_argument("--root", type=Path,
                   help="pointing04: the Pointing'04 copy to read (default: third_party/pointing04, the vendored tilt-0 "
                        "frames)")
    p.add_argument("--tilt", type=int, default=0, choices=[-15, 0, 15], help="pointing04: the frames' tilt (default 0)")
    p.add_argument("--warp-only", action="store_true",
                   help="pointing04: raw and warp-only rows alone, no generator (default: --checkpoint, else the newest "
                        "GAN run's)")
    p.add_argument("--recognizer", type=Path,
                   help="recognizer checkpoint (default: the one the generator was trained with, else the newest trained one "
                        "that suits the protocol)")
    p.add_argument("--recognizer-arch", choices=["r18", "r34", "r50", "r100"],
                   help="architecture of a bare arcface_torch backbone.pth given as --recognizer")
    p.add_argument("--competitor-recognizer", type=Path, metavar="RECOGNIZER",
                   help="a recognizer trained on every pose (configs/recognizer_synthpie_allpose.yaml): adds its rank-1 "
                        "on the raw probes, the fair competitor to frontalization")
    p.add_argument("--judge-recognizer", type=Path, metavar="RECOGNIZER",
                   help="an independent recognizer (another architecture and seed, configs/recognizer_synthpie_judge.yaml) "
                        "that no training loss used: every rank-1 row is repeated with it")
    p.add_argument("--baseline-checkpoint", type=Path, metavar="CHECKPOINT",
                   help="a second generator (e.g. trained without geometry) reported beside --checkpoint")
    p.add_argument("--external", type=Path, action="append", default=[], metavar="PATH",
                   help="declare the network at PATH (any role; a folder: every file in it) trained elsewhere, on people "
                        "this protocol does not test: taken without a training record that shows it (an arcface_torch "
                        "backbone.pth, a recognizer trained on an image folder), and named in the report's header as "
                        "external, user-declared. A record that shows a tested subject is refused all the same. Repeatable")
    p.add_argument("--no-warp-row", action="store_true", help="leave out the warp-only row (the geometric baseline)")
    p.add_argument("--prepared", type=Path, help="prepared-data folder (default: the checkpoint's)")
    p.add_argument("--out", type=Path, help="report folder (default: <run>/report)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where to look for the newest runs (default: runs)")
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation for the embeddings")
    p.add_argument("--probes-per-column", "--max-probes-per-yaw", dest="probes_per_column", type=int, default=None,
                   metavar="N", help="score a fixed random subset: at most N probes per camera column, spread evenly over "
                                     "the flashes (the report's header says how many of how many; default: every probe)")
    p.add_argument("--probe-seed", type=int, default=0, help="seed of the --probes-per-column subset (default: 0)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--wandb", default="disabled", choices=["disabled", "offline", "online", "auto"],
                   help="log the report to W&B (default: disabled)")


def run(args: argparse.Namespace) -> int:
    if args.protocol == "pointing04":
        return run_real_faces(args)
    from frontalize.pipeline.evaluate import ReportRequest, identity_report, log_report

    req = ReportRequest(args.checkpoint, args.protocol, args.recognizer, args.recognizer_arch, args.competitor_recognizer,
                        args.judge_recognizer, args.baseline_checkpoint, not args.no_warp_row, args.prepared, args.out,
                        args.flip, args.probes_per_column, args.device, args.runs_dir, progress=not args.quiet,
                        probe_seed=args.probe_seed, external=tuple(args.external))
    if args.probes_per_column is not None and args.probes_per_column < 1:
        print(f"error: --probes-per-column needs at least 1, not {args.probes_per_column}", file=sys.stderr)
        return 2
    try:
        report = identity_report(req)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.paths["markdown"].read_text())
    print("wrote " + ", ".join(str(p) for p in report.paths.values()))
    for warning in report.warnings:  # in the header too; said again where it cannot be missed
        print(warning, file=sys.stderr)
    if args.wandb != "disabled":
        from frontalize.config import WandbConfig

        log_report(report, args.wandb, WandbConfig.project, WandbConfig.init_timeout)
    return 0


def run_real_faces(args: argparse.Namespace) -> int:
    from frontalize.data.pointing04 import Pointing04Error
    from frontalize.face.dlib_identity import JudgeMissing
    from frontalize.pipeline.real_faces import RealFaceRequest, real_face_report
    from frontalize.runs.folders import NoCheckpoint, newest_generator_checkpoint

    if args.warp_only and args.checkpoint:
        print("error: --warp-only scores no generator; leave out --checkpoint", file=sys.stderr)
        return 2
    try:
        checkpoint = None if args.warp_only else args.checkpoint or newest_generator_checkpoint(args.runs_dir)
    except NoCheckpoint as e:
        print(f"error: {e} (or --warp-only for the raw and warp-only rows)", file=sys.stderr)
        return 2
    out = args.out or Path(args.runs_dir) / "real_faces"
    try:
        report = real_face_report(RealFaceRequest(args.root, checkpoint, out, args.tilt, device=args.device,
                                                  progress=not args.quiet))
    except (Pointing04Error, JudgeMissing, NoCheckpoint, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.paths["markdown"].read_text())
    print("wrote " + ", ".join(str(p) for p in report.paths.values()))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))
