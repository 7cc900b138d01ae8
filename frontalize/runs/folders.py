"""Run folders: ``<runs>/<kind>/<NNN>-<name>``, auto-numbered, and the lookups of "the newest run".

One runs root (``train.runs_dir``, default ``runs``) holds every kind of run:
``gan/`` (frontalization GANs), ``recognizer/`` (the shared recognizer), ``recognizer_allpose/`` (the
fair competitor) and any other a config names.  The newest run is the one with the highest number.

"The newest run" of a lookup is the newest one whose network suits the use it is looked up for: a ``check``
(``provenance.Use.check``) reads each candidate's training record and gives the reason to pass it over, so a
session01 generator, which trained on most of setting1's test subjects, is never picked for setting1.  When
runs exist and none suits, the error lists each one skipped and why.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from frontalize.runs import checkpoint as ckpt

GAN = "gan"
RECOGNIZER = "recognizer"
_NUMBERED = re.compile(r"^(\d{3,})-(.+)$")


Check = Callable[[Path], "str | None"]  # a checkpoint -> the reason a lookup passes it over, None when it suits


class NoCheckpoint(FileNotFoundError):
    pass


class NoneSuits(NoCheckpoint):
    """Runs exist, but none of their networks suits the use (``skipped``: "path: why" for each)."""

    def __init__(self, message: str, skipped: list[str]):
        super().__init__(message)
        self.skipped = skipped


def _skipped_message(what: str, where: Path, wanted: str, skipped: list[str], remedy: str) -> str:
    return (f"no {what} under {where} suits {wanted}; skipped:\n" + "\n".join(f"  {s}" for s in skipped)
            + f"\n{remedy}")


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


def _first_suitable(candidates: list[Path], check: Check | None) -> tuple[Path | None, list[str]]:
    """The first candidate the check lets through, and "path: why" for those it passed over before it."""
    skipped = []
    for path in candidates:
        why = check(path) if check else None
        if why is None:
            return path, skipped
        skipped.append(f"{path}: {why}")
    return None, skipped


def newest_recognizer(runs_root: Path = Path("runs"), kind: str = RECOGNIZER, check: Check | None = None,
                      wanted: str = "") -> Path | None:
    """``recognizer.pt`` of the newest finished recognizer run under ``runs_root/kind`` that ``check`` lets through.

    None when there is no finished run; ``NoneSuits`` when there are some and none suits."""
    done = [r / "recognizer.pt" for r in runs_of(Path(runs_root) / kind) if (r / "recognizer.pt").exists()]
    found, skipped = _first_suitable(done[::-1], check)
    if found is None and skipped:
        raise NoneSuits(_skipped_message("recognizer", Path(runs_root) / kind, wanted, skipped,
                                         "Train one for it (python scripts/train_recognizer.py --config "
                                         "configs/recognizer_synthpie.yaml) or pass one."), skipped)
    return found


def newest_generator_checkpoint(runs_root: Path = Path("runs"), check: Check | None = None, wanted: str = "") -> Path:
    """``best.pt`` of the newest GAN run that has checkpoints, else its latest step checkpoint; of the runs whose
    checkpoint ``check`` lets through."""
    candidates = []
    for run in reversed(runs_of(Path(runs_root) / GAN)):
        best = run / "checkpoints" / "best.pt"
        found = best if best.exists() else ckpt.latest(run / "checkpoints")
        if found is not None:
            candidates.append(found)
    found, skipped = _first_suitable(candidates, check)
    if found is not None:
        return found
    if skipped:
        raise NoneSuits(_skipped_message("generator", Path(runs_root) / GAN, wanted, skipped,
                                         "Train one for it (python scripts/train_gan.py --setting ...) or pass "
                                         "--checkpoint PATH."), skipped)
    raise NoCheckpoint(
        f"no trained generator under {Path(runs_root) / GAN}. Train one first: python scripts/train_gan.py --setting 1_4 "
        "(or pass --checkpoint PATH)"
    )


def finished_gan_run(runs_root: Path, setting: str, check: Check | None = None) -> Path | None:
    """The newest run of a setting that ran to its end (it wrote summary.json) and whose checkpoint ``check`` lets
    through (runs it passes over are printed with the reason)."""
    done = [r for r in runs_of(Path(runs_root) / GAN, setting) if (r / "summary.json").exists()]
    for run in reversed(done):
        best = run / "checkpoints" / "best.pt"
        path = best if best.exists() else ckpt.latest(run / "checkpoints")
        why = check(path) if check and path is not None else None
        if path is not None and why is None:
            return run
        print(f"passing over the finished run {run}: {why or 'it has no checkpoint'}")
    return None
