"""Run folders: runs/<kind>/<NNN>-<name>, auto-numbered, with the resolved config saved beside the checkpoints."""
from __future__ import annotations

import re
from pathlib import Path


def new_run_dir(base: Path, name: str) -> Path:
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in base.iterdir() if (m := re.match(r"^(\d{3,})-", p.name))]
    path = base / f"{(max(numbers) + 1 if numbers else 0):03d}-{name}"
    path.mkdir()
    return path


def latest_run_dir(base: Path, name: str | None = None) -> Path | None:
    base = Path(base)
    if not base.is_dir():
        return None
    runs = sorted(
        (p for p in base.iterdir() if re.match(r"^\d{3,}-", p.name) and (name is None or p.name.split("-", 1)[1] == name)),
        key=lambda p: int(p.name.split("-", 1)[0]),
    )
    return runs[-1] if runs else None
