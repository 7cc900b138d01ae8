"""Prepared data on demand: a named Multi-PIE root, or the embedded default (SynthPIE `small`)."""
from __future__ import annotations

import os
from pathlib import Path

from frontalize.data.manifest import manifest_path
from frontalize.preparation.prep import PrepConfig, prepare

DEFAULT_PRESET = "small"
DEFAULT_SIZE = 128


def default_synthpie_root(prepared: Path) -> Path:
    """Where the embedded default is generated: beside the prepared folder."""
    return Path(prepared).parent / "synthpie"


def generate_default(prepared: Path, workers: int | None = None, progress: bool = True, preset: str = DEFAULT_PRESET) -> Path:
    """SynthPIE (`small` unless told) beside ``prepared`` (finished files are kept, so a re-run is quick)."""
    from frontalize.synthpie.generate import generate

    root = default_synthpie_root(prepared)
    generate(root, preset, seed=0, workers=workers, progress=progress)
    return root


def ensure_prepared(prepared: Path, protocol: str, size: int, root: Path | None = None, workers: int | None = None,
                    progress: bool = True) -> None:
    """Prepare ``root`` (None: the embedded default) into ``prepared`` unless the protocol's manifest exists."""
    if manifest_path(prepared, protocol, size).exists():
        return
    workers = workers or os.cpu_count() or 1
    if root is None:
        print(f"no prepared data at {prepared}: preparing the embedded default "
              f"(SynthPIE `{DEFAULT_PRESET}` at {default_synthpie_root(prepared)})")
        root = generate_default(prepared, workers, progress)
    else:
        print(f"preparing {root} into {prepared} at {size} px")
    prepare(PrepConfig(root=Path(root), out=Path(prepared), size=size, workers=workers, progress=progress))
