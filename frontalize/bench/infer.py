"""`infer_images_per_s`: `frontalize infer` on a folder of 64 SynthPIE profiles with a 128 px CPU-configuration model."""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from frontalize.bench import benchmark
from frontalize.config import load_config, to_yaml
from frontalize.models.factory import build_generator
from frontalize.synthpie.generate import PRESETS, render_unit
from frontalize.training import checkpoint as ckpt


@benchmark("infer_images_per_s", "detect + align + generate, 64 SynthPIE profiles (+-30/45 degrees), 128 px model, CPU")
def infer_speed(quick: bool) -> dict:
    from frontalize.cli.infer import main as infer_main
    from frontalize.face.images import ImageProblem
    from frontalize.inference.frontalizer import Frontalizer, collect_inputs

    torch.set_num_threads(2)
    n = 16 if quick else 64
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        preset = replace(PRESETS["small"], cameras=("08_0", "13_0", "04_1", "19_0"), flashes=(7, 10))
        subject = 1
        while len(list((tmp / "tree").rglob("*.png"))) < n:
            render_unit(tmp / "tree", preset, 0, subject, 1, 1)
            subject += 1
        photos = tmp / "photos"
        photos.mkdir()
        for p in sorted((tmp / "tree").rglob("*.png"))[:n]:
            shutil.copy(p, photos / p.name)
        cfg = load_config("1_4", cpu=True)
        ckpt.save(tmp / "g.pt", {"generator": build_generator(cfg).state_dict(), "config": to_yaml(cfg)})
        engine = Frontalizer(tmp / "g.pt")
        files, _ = collect_inputs([str(photos)], False)
        t0 = time.perf_counter()
        crops, no_face = [], 0
        for f in files:
            try:
                crops += engine.crops(f)
            except ImageProblem:  # counted, as the command counts them
                no_face += 1
        t_detect = time.perf_counter() - t0
        for i in range(0, len(crops), 16):
            engine.frontalize(crops[i : i + 16])
        seconds = time.perf_counter() - t0
        # the command itself, end to end, once (its own status lines are not timed here)
        t1 = time.perf_counter()
        code = infer_main([str(photos), "--checkpoint", str(tmp / "g.pt"), "--out", str(tmp / "out")])
        command_s = time.perf_counter() - t1
    return {
        "infer_images_per_s": round(len(files) / seconds, 2),
        "images": len(files),
        "faces": len(crops),
        "no_face_found": no_face,
        "detect_align_s": round(t_detect, 2),
        "generator_s": round(seconds - t_detect, 2),
        "model_load_s": round(engine.load_seconds, 2),
        "command_wall_s_including_load": round(command_s, 2),
        "command_exit_code": code,
        "batch": 16,
    }
