"""The `frontalize` command: one entry point, one subcommand per job."""
from __future__ import annotations

import argparse
import sys

from frontalize import __version__
from frontalize.cli import curve, demo, evaluate, infer, models, pairs, prep, synthpie, train, train_recognizer

# name -> (module with add_arguments/run, one-line help)
SUBCOMMANDS = {  # in pipeline order
    "synthpie": (synthpie, "generate the synthetic Multi-PIE-format dataset"),
    "pairs": (pairs, "a Multi-PIE-layout tree from frontal photos: each turned to the 13 head-height cameras"),
    "prep": (prep, "align crops and write protocol manifests from a Multi-PIE (or SynthPIE) tree"),
    "train-recognizer": (train_recognizer, "train the shared ArcFace recognizer (same as scripts/train_recognizer.py)"),
    "models": (models, "print a setting's networks: parameter counts and output shapes"),
    "train": (train, "train a frontalization GAN (same as scripts/train_gan.py)"),
    "eval": (evaluate, "rank-1 by yaw (raw vs frontalized), identity cosine, PSNR/SSIM: the identity report"),
    "curve": (curve, "a GAN run's time-to-quality curve: judge rank-1 and SSIM of each checkpoint against training minutes"),
    "infer": (infer, "frontalize the faces in photos (files, folders, globs)"),
    "demo": (demo, "the whole pipeline on the embedded default, on the CPU (what `make demo` runs)"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="frontalize",
        description="Turn faces seen from the side into the same person seen from the front, and measure identity.",
    )
    p.add_argument("--version", action="version", version=f"frontalize {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        module.add_arguments(sp)
        sp.set_defaults(_run=module.run)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return args._run(args)


if __name__ == "__main__":
    sys.exit(main())
