"""`frontalize synthpie` / `python data_prep/synthpie.py`: write a SynthPIE tree."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from frontalize.synthpie.generate import PRESETS, SynthPIEError, generate


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="small", choices=sorted(PRESETS), help="size of the dataset (default: small)")
    p.add_argument("--out", type=Path, required=True, help="output folder (gets data/session01/multiview/...)")
    p.add_argument("--seed", type=int, default=0, help="the same seed and preset give byte-identical files")
    p.add_argument("--workers", type=int, default=None, help="parallel processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    preset = PRESETS[args.preset]
    sessions = ""
    if len(preset.sessions) > 1:
        sessions = " in sessions " + ", ".join(
            f"{s:02d} ({len(preset.attendees(s))} subjects, recordings {'/'.join(f'{r:02d}' for r in preset.recordings_of(s))})"
            for s in preset.sessions)
    print(f"SynthPIE {args.preset}: {preset.subjects} subjects{sessions}, {len(preset.cameras)} cameras, "
          f"{len(preset.flashes)} flashes, {preset.n_images} images at {preset.width}x{preset.height} -> {args.out}")
    try:
        summary = generate(args.out, args.preset, args.seed, args.workers, progress=not args.quiet)
    except SynthPIEError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="synthpie", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))
