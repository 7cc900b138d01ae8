"""`python scripts/train_gan.py --setting 1_4` (or `frontalize train`): train a frontalization GAN.

Without a GPU the CPU configuration (configs/cpu.yaml) is used unless --paper is given.  On a fresh
machine the embedded default is prepared first (SynthPIE `small`), and the shared recognizer is trained
when the setting needs one and none exists.  Under torchrun every process runs this same main().
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from frontalize.config import Config, ConfigError, load_config, to_yaml


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--setting", required=True, help="named setting: 1_4, setting1_4, session01_2, ...")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--cpu", action="store_true", help="the CPU configuration (default when no GPU is present)")
    group.add_argument("--paper", action="store_true", help="the paper configuration even without a GPU")
    p.add_argument("--resume", nargs="?", const="latest", help="continue a run: its folder, or the newest run of this setting")
    p.add_argument("--dry-run", action="store_true", help="print the resolved configuration and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.steps=200 loss.l1=5")


def resolve(args) -> Config:
    if args.resume and "=" in args.resume and not Path(args.resume).exists():
        # `--resume key=value`: argparse gave the first override to --resume's optional folder
        args.overrides, args.resume = [args.resume, *args.overrides], "latest"
    cpu = args.cpu or (not args.paper and not torch.cuda.is_available())
    cfg = load_config(args.setting, cpu=cpu, overrides=args.overrides)
    if cpu and not args.cpu:
        print("no GPU found: using the CPU configuration (configs/cpu.yaml); --paper forces the paper one")
    return cfg


def run(args: argparse.Namespace) -> int:
    from frontalize.pipeline.gan import LaunchError, launch
    from frontalize.runs.checkpoint import NonFiniteLoss

    try:
        cfg = resolve(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(to_yaml(cfg))
        return 0
    try:
        launch(cfg, resume=args.resume, progress=not args.quiet)
    except LaunchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NonFiniteLoss as e:
        if getattr(e, "rank", 0) == 0:
            print(f"error: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="train_gan", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))
