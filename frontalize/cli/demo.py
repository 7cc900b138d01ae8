"""`frontalize demo` (what `make demo` runs): the whole pipeline on the embedded default, on the CPU."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="data, report and inferred picture (default: runs/demo)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="trained networks (default: runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--preset", default="small", help="SynthPIE preset (default: small; `tiny` for a smoke run)")
    p.add_argument("--recognizer", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the recognizer recipe")
    p.add_argument("--gan", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the GAN's CPU configuration")


def run(args: argparse.Namespace) -> int:
    from frontalize.pipeline.demo import run_demo

    result = run_demo(args.out, args.runs_dir, progress=not args.quiet, preset=args.preset,
                      recognizer_overrides=args.recognizer, gan_overrides=args.gan)
    return 0 if result["inferred"] else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="frontalize demo", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))
