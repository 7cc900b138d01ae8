"""`infer_images_per_s`: `frontalize infer` on a folder of 64 SynthPIE profiles with a 128 px CPU-configuration model."""
from __future__ import annotations

import shutil
from multiprocessing import get_context
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from frontalize.bench.registry import benchmark
from frontalize.config import load_config, to_yaml
from frontalize.data.scan import ALPHA_SUFFIX
from frontalize.models.factory import build_generator
from frontalize.runs import checkpoint as ckpt
from frontalize.synthpie.generate import PRESETS, render_unit


def profile_folder(folder: Path, n: int, cameras=("08_0", "13_0", "04_1", "19_0"), workers: int = 1) -> Path:
    """``n`` SynthPIE photos at the given cameras (+-30/45 degrees by default), flashes 07 and 10, in one folder."""
    tree = folder / "tree"
    preset = replace(PRESETS["small"], cameras=cameras, flashes=(7, 10))
    subjects = range(1, -(-n // (len(cameras) * len(preset.flashes))) + 1)
    units = [(tree, preset, 0, s, 1, 1) for s in subjects]
    with get_context("fork").Pool(workers) as pool:
        pool.starmap(render_unit, units)
    photos = folder / "photos"
    photos.mkdir()
    for p in sorted(p for p in tree.rglob("*.png") if not p.name.endswith(ALPHA_SUFFIX))[:n]:
        shutil.copy(p, photos / p.name)
    return photos


@benchmark("infer_images_per_s", "detect + align + generate, 64 SynthPIE profiles (+-30/45 degrees), 128 px model, CPU")
def infer_speed(quick: bool) -> dict:
    from frontalize.inference.frontalizer import Frontalizer, collect_inputs, frontalize_files

    torch.set_num_threads(2)
    n = 16 if quick else 64
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = profile_folder(tmp, n)
        cfg = load_config("1_4", cpu=True)
        ckpt.save(tmp / "g.pt", {"generator": build_generator(cfg).state_dict(), "config": to_yaml(cfg)})
        engine = Frontalizer(tmp / "g.pt")
        files, _ = collect_inputs([str(photos)], False)
        totals = frontalize_files(engine, files, tmp / "out", batch_size=16)
    return {
        "infer_images_per_s": round(len(files) / totals.seconds, 2),
        "images": len(files),
        "faces": totals.faces,
        "no_face_found": totals.failed,
        "seconds": round(totals.seconds, 2),
        "model_load_s": round(engine.load_seconds, 2),
        "batch": 16,
        "note": "the loop behind `frontalize infer` (detection, alignment, generator, PNG writing); model loading apart",
    }
