"""`frontalize models --setting NAME`: parameter counts and output shapes of a setting's networks."""
from __future__ import annotations

import argparse
import sys

from frontalize.config import ConfigError, load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--setting", required=True, help="a named setting, e.g. 1_4 or session01_2")
    p.add_argument("--cpu", action="store_true", help="the CPU configuration (configs/cpu.yaml)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. data.size=224")


def run(args: argparse.Namespace) -> int:
    from frontalize.models.factory import describe

    try:
        cfg = load_config(args.setting, args.cpu, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{cfg.setting} at {cfg.data.size}px, width {cfg.model.width}, critics: {cfg.model.discriminators} "
          f"({cfg.model.d_norm} norm), loss: {cfg.loss.adversarial}")
    for name, params, shape in describe(cfg):
        print(f"{name:<44} {params:>14,}  {shape}")
    return 0
