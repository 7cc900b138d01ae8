"""`frontalize demo` (what `make demo` runs): the whole pipeline on the embedded default, on the CPU.

`frontalize demo --protocol setting2` (`make demo-setting2`): the same chain on Setting 2 (SynthPIE `sessions`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", default="setting1", choices=["setting1", "setting2"],
                   help="setting1 (SynthPIE `small`, GAN setting1_4g) or setting2 (SynthPIE `sessions`, all four sessions, "
                        "GAN setting2_4r, the report on a fixed probe subsample); default: setting1")
    p.add_argument("--out", type=Path, default=None,
                   help="data, report and inferred picture (default: runs/demo; runs/demo_setting2 for setting2)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="trained networks (default: runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--preset", default=None,
                   help="SynthPIE preset (default: small for setting1, sessions for setting2; `tiny` / `tiny_sessions` for a "
                        "smoke run)")
    p.add_argument("--probes-per-column", type=int, default=None, metavar="N",
                   help="the report scores at most N probes per camera column, spread over the flashes (default: every "
                        "probe for setting1, 180 for setting2)")
    p.add_argument("--real-faces-probes", type=int, default=None, metavar="N",
                   help="the real-face step scores only Pointing'04's first N probes (a smoke run; default: all 375)")
    p.add_argument("--recognizer", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the recognizer recipe")
    p.add_argument("--gan", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the GAN's CPU configuration")


def run(args: argparse.Namespace) -> int:
    from frontalize.pipeline.demo import DemoError, run_demo
    from frontalize.synthpie.generate import PRESETS, SynthPIEError

    if args.preset is not None and args.preset not in PRESETS:
        print(f"error: unknown SynthPIE preset {args.preset!r}; known: {', '.join(PRESETS)}", file=sys.stderr)
        return 2
    if args.probes_per_column is not None and args.probes_per_column < 1:
        print(f"error: --probes-per-column needs at least 1, not {args.probes_per_column}", file=sys.stderr)
        return 2
    try:
        result = run_demo(args.out, args.runs_dir, progress=not args.quiet, preset=args.preset,
                          recognizer_overrides=args.recognizer, gan_overrides=args.gan, protocol=args.protocol,
                          probes_per_column=args.probes_per_column, real_faces_probes=args.real_faces_probes)
    except (DemoError, SynthPIEError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if result["inferred"] else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="frontalize demo", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))
