"""`frontalize eval --checkpoint C --protocol setting1` (also `python scripts/evaluate.py`): the identity report.

Rank-1 by yaw for raw probes and their frontalized versions with the shared recognizer and the
protocol's gallery; identity cosine and L1/PSNR/SSIM on the face box against the frontal target.
Writes Markdown, CSV, a PNG chart and a sample grid per yaw; logs them to W&B when enabled.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, help="generator checkpoint (default: the newest run's best, else latest)")
    p.add_argument("--protocol", default=None, help="setting1 | session01 | setting2 (default: the checkpoint's)")
    p.add_argument("--recognizer", type=Path,
                   help="recognizer checkpoint (default: the one the generator was trained with, else the newest trained one)")
    p.add_argument("--recognizer-arch", choices=["r18", "r34", "r50", "r100"],
                   help="architecture of a bare arcface_torch backbone.pth given as --recognizer")
    p.add_argument("--competitor-recognizer", type=Path, metavar="RECOGNIZER",
                   help="a recognizer trained on every pose (configs/recognizer_synthpie_allpose.yaml): adds its rank-1 "
                        "on the raw probes, the fair competitor to frontalization")
    p.add_argument("--prepared", type=Path, help="prepared-data folder (default: the checkpoint's)")
    p.add_argument("--out", type=Path, help="report folder (default: <run>/report)")
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation for the embeddings")
    p.add_argument("--max-probes-per-yaw", type=int, default=None, help="evaluate a fixed random subset per yaw")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--wandb", default="disabled", choices=["disabled", "offline", "online", "auto"],
                   help="log the report to W&B (default: disabled)")


def training_recognizer(cfg) -> Path | None:
    """The recognizer the generator's identity loss used: one recognizer serves training and evaluation."""
    path = cfg.loss.recognizer
    return Path(path) if cfg.loss.identity_features == "recognizer" and path and Path(path).exists() else None


def run(args: argparse.Namespace) -> int:
    from frontalize.cli.train import newest_recognizer
    from frontalize.evaluation.report import evaluate_generator, write_report
    from frontalize.inference.frontalizer import NoCheckpoint, find_checkpoint, load_generator
    from frontalize.recognition.recognizer import Recognizer

    try:
        checkpoint = args.checkpoint or find_checkpoint()
        generator, cfg = load_generator(checkpoint, torch.device(args.device))
        rec_path = args.recognizer or training_recognizer(cfg) or newest_recognizer()
        if rec_path is None:
            raise NoCheckpoint("no trained recognizer: python scripts/train_recognizer.py --config configs/recognizer_synthpie.yaml")
        recognizer = Recognizer.load(rec_path, arch=args.recognizer_arch).to(args.device)
        competitor = Recognizer.load(args.competitor_recognizer).to(args.device) if args.competitor_recognizer else None
    except (NoCheckpoint, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    protocol = args.protocol or cfg.data.protocol
    prepared = args.prepared or Path(cfg.data.prepared)
    manifest = prepared / "manifests" / f"{protocol}_{cfg.data.size}.csv"
    if not manifest.exists():
        print(f"error: {manifest} not found (prepare {protocol} at {cfg.data.size} px first)", file=sys.stderr)
        return 2
    out = args.out or checkpoint.parent.parent / "report"
    title = f"{cfg.setting} on {protocol} ({checkpoint.parent.parent.name}/{checkpoint.name}), recognizer {rec_path.parent.name}"
    from frontalize.training.data import read_manifest

    result = evaluate_generator(generator, recognizer, prepared, read_manifest(manifest), cfg.data.size, torch.device(args.device),
                                flip=args.flip, per_yaw=args.max_probes_per_yaw, competitor=competitor)
    paths = write_report(result, out, protocol, title)
    print(paths["markdown"].read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    if args.wandb != "disabled":
        from frontalize.training.tracking import Tracker

        tracker = Tracker(out, cfg.wandb.project, cfg.setting, f"eval-{cfg.setting}-{protocol}", args.wandb, {"checkpoint": str(checkpoint)},
                          cfg.wandb.init_timeout)
        table = result["table"]
        tracker.log_table(0, f"rank1_{protocol}", ["yaw", "raw", "frontalized", "fused", "probes"],
                          [[str(k), v["raw"], v["frontalized"], v["fused"], v["probes"]] for k, v in table.items()])
        tracker.log_images(0, {k: v for k, v in paths.items() if k in ("chart", "samples")})
        tracker.finish()
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))
