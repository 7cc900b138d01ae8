"""Run folders: ``<runs>/<kind>/<NNN>-<name>``, auto-numbered, and the lookups of "the newest run".

One runs root (``train.runs_dir``, default ``runs``) holds every kind of run:
``gan/`` (frontalization GANs), ``recognizer/`` (the shared recognizer), ``recognizer_allpose/`` (the
fair competitor) and any other a config names.  The newest run is the one with the highest number.
"""
from __future__ import annotations

import re
from pathlib import Path

from frontalize.runs import checkpoint as ckpt

GAN = "gan"
RECOGNIZER = "recognizer"
_NUMBERED = re.compile(r"^(\d{3,})-(.+)$")


class NoCheckpoint(FileNotFoundError):
    pass


def new_run_dir(base: Path, name: str) -> Path:
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in base.iterdir() if (m := _NUMBERED.match(p.name))]
    path = base / f"{(max(numbers) + 1 if numbers else 0):03d}-{name}"
    path.mkdir()
    return path


def runs_of(base: Path, name: str | None = None) -> list[Path]:
    """Numbered run folders under ``base`` (of one name, if given), oldest first."""
    base = Path(base)
    if not base.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in base.iterdir()
             if (m := _NUMBERED.match(p.name)) and p.is_dir() and (name is None or m.group(2) == name)]
    return [p for _, p in sorted(found)]


def latest_run_dir(base: Path, name: str | None = None) -> Path | None:
    runs = runs_of(base, name)
    return runs[-1] if runs else None


def newest_recognizer(runs_root: Path = Path("runs"), kind: str = RECOGNIZER) -> Path | None:
    """``recognizer.pt`` of the newest finished recognizer run under ``runs_root/kind``."""
    done = [r / "recognizer.pt" for r in runs_of(Path(runs_root) / kind) if (r / "recognizer.pt").exists()]
    return done[-1] if done else None


def newest_generator_checkpoint(runs_root: Path = Path("runs")) -> Path:
    """``best.pt`` of the newest GAN run that has checkpoints, else its latest step checkpoint."""
    for run in reversed(runs_of(Path(runs_root) / GAN)):
        if (run / "checkpoints" / "best.pt").exists():
            return run / "checkpoints" / "best.pt"
        last = ckpt.latest(run / "checkpoints")
        if last is not None:
            return last
    raise NoCheckpoint(
        f"no trained generator under {Path(runs_root) / GAN}. Train one first: python scripts/train_gan.py --setting 1_4 "
        "(or pass --checkpoint PATH)"
    )


def finished_gan_run(runs_root: Path, setting: str) -> Path | None:
    """The newest run of a setting that ran to its end (it wrote summary.json)."""
    done = [r for r in runs_of(Path(runs_root) / GAN, setting) if (r / "summary.json").exists()]
    return done[-1] if done else None
