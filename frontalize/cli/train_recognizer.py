"""`frontalize train-recognizer` (or `python scripts/train_recognizer.py`): train the shared ArcFace recognizer.

    python scripts/train_recognizer.py --config configs/recognizer_synthpie.yaml [key=value ...]
    python scripts/train_recognizer.py --config configs/recognizer_synthpie.yaml --protocol setting2 [key=value ...]
    python scripts/train_recognizer.py --evaluate runs/recognizer/000-recognizer_synthpie/recognizer.pt
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from frontalize.config import CONFIG_DIR, ConfigError

DEFAULT_CONFIG = CONFIG_DIR / "recognizer_synthpie.yaml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"recognizer YAML (default: {DEFAULT_CONFIG.name})")
    p.add_argument("--protocol", default=None,
                   help="the recipe's variant for this protocol (its for_protocol section: setting2 trains on setting2's "
                        "own training split); default, or a protocol the recipe has no section for: the recipe as written")
    p.add_argument("--resume", action="store_true", help="continue the newest run of this config's name")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--evaluate", type=Path, metavar="RECOGNIZER", help="only evaluate this recognizer.pt with the config's eval settings")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.epochs=5")


def run(args: argparse.Namespace) -> int:
    from frontalize.recognition.config import load_recognizer_config, recognizer_yaml
    from frontalize.recognition.recognizer import Recognizer
    from frontalize.recognition.train import evaluate_run, format_rank1_table, resolve_device, train
    from frontalize.runs.checkpoint import NonFiniteLoss

    if not args.config.exists():
        print(f"error: no recognizer config at {args.config}", file=sys.stderr)
        return 2
    from frontalize.data.protocols import PROTOCOLS

    if args.protocol is not None and args.protocol not in PROTOCOLS:
        print(f"error: unknown protocol {args.protocol!r}; known: {', '.join(PROTOCOLS)}", file=sys.stderr)
        return 2
    try:
        cfg = load_recognizer_config(args.config, args.overrides, protocol=args.protocol)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(recognizer_yaml(cfg))
        return 0
    try:
        if args.evaluate:
            device = resolve_device(cfg.train.device)
            report = evaluate_run(cfg, Recognizer.load(args.evaluate, device=str(device)), device, progress=not args.quiet)
            for protocol, table in report["rank1"].items():
                print(format_rank1_table(protocol, table))
            for name, res in report["verification"].items():
                print(f"{name}: {res['accuracy']:.4f} +- {res['std']:.4f}")
            return 0
        final = train(cfg, resume=args.resume, progress=not args.quiet)
    except (FileNotFoundError, ValueError, NonFiniteLoss) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"recognizer written to {final}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="train_recognizer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))
