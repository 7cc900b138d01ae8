"""`recognizer_embed_images_per_s`: shared-recognizer embeddings on CPU, batch 64 (default tiny backbone)."""
from __future__ import annotations

import statistics
import time

import torch

from frontalize.bench.registry import benchmark
from frontalize.recognition.iresnet import get_backbone
from frontalize.recognition.recognizer import Recognizer


@benchmark("recognizer_embed_images_per_s", "embed 128 px template crops with the tiny IResNet (and r50 for reference), batch 64, CPU")
def embed_speed(quick: bool) -> dict:
    torch.set_num_threads(2)
    x = torch.rand(64, 3, 128, 128) * 2 - 1
    out = {}
    for arch in ("tiny", "r50"):
        rec = Recognizer(get_backbone(arch))
        times = []
        for i in range(3 if quick or arch == "r50" else 7):
            t0 = time.perf_counter()
            rec.embed(x)
            if i:
                times.append(time.perf_counter() - t0)
        out[arch] = round(64 / statistics.median(times), 1)
    return {"recognizer_embed_images_per_s": out["tiny"], "r50_images_per_s": out["r50"], "batch": 64}
