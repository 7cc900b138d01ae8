"""Identity preservation: rank-1 by yaw of raw probes and of their frontalized versions.

Gallery: the protocol's gallery images (frontal, flash 07).  A probe is correct when its nearest
gallery embedding (cosine, shared recognizer) is its own subject; session01 matches each probe
against the gallery of its own expression.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

from frontalize.recognition.data import read_rgb, to_tensor
from frontalize.recognition.evaluate import rank1_by_pose
from frontalize.recognition.recognizer import Recognizer

_RECOGNIZERS: dict = {}


def recognizer_for(path: str, device) -> Recognizer:
    key = (str(path), str(device))
    if key not in _RECOGNIZERS:
        _RECOGNIZERS[key] = Recognizer.load(path).to(device)
    return _RECOGNIZERS[key]


def load_batch(prepared: Path, rows: list[dict], size: int, device) -> torch.Tensor:
    imgs = []
    for r in rows:
        img = read_rgb(prepared / r["crop_path"])
        if img.shape[0] != size:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        imgs.append(to_tensor(img))
    return torch.stack(imgs).to(device)


@torch.no_grad()
def embed(recognizer: Recognizer, prepared: Path, rows: list[dict], size: int, device, generator=None,
          batch: int = 32, flip: bool = False) -> torch.Tensor:
    out = []
    for i in range(0, len(rows), batch):
        x = load_batch(prepared, rows[i : i + batch], size, device)
        if generator is not None:
            x = generator(x)[-1]
        out.append(recognizer.embed(x, flip=flip).cpu())
    return torch.cat(out) if out else torch.zeros(0, recognizer.dim)


def subsample_probes(probes: list[dict], per_yaw: int | None, seed: int = 0) -> list[dict]:
    if per_yaw is None:
        return probes
    by_yaw = defaultdict(list)
    for r in probes:
        by_yaw[int(r["yaw"])].append(r)
    rng = np.random.default_rng(seed)
    out = []
    for yaw in sorted(by_yaw):
        rows = by_yaw[yaw]
        idx = sorted(rng.choice(len(rows), min(per_yaw, len(rows)), replace=False))
        out += [rows[i] for i in idx]
    return out


def rank1_raw_and_frontalized(recognizer, generator, prepared: Path, rows: list[dict], size: int, device,
                              per_yaw: int | None = None, flip: bool = False) -> dict:
    test = [r for r in rows if r["split"] == "test"]
    gallery = [r for r in test if r["role"] == "gallery"]
    probes = subsample_probes([r for r in test if r["role"] == "probe"], per_yaw)
    merged: dict = {}
    for rec in sorted({r["recording"] for r in gallery}):
        g = [r for r in gallery if r["recording"] == rec]
        p = [r for r in probes if r["recording"] == rec]
        if not p:
            continue
        g_emb = embed(recognizer, prepared, g, size, device, flip=flip)
        ids, yaws = [r["subject"] for r in p], [int(r["yaw"]) for r in p]
        for kind, gen in (("raw", None), ("frontalized", generator)):
            table = rank1_by_pose(g_emb, [r["subject"] for r in g], embed(recognizer, prepared, p, size, device, gen, flip=flip), ids, yaws)
            for yaw, v in table.items():
                slot = merged.setdefault(yaw, {"raw": 0.0, "frontalized": 0.0, "probes": 0})
                slot[kind] += v["accuracy"] * v["probes"]
                if kind == "raw":
                    slot["probes"] += v["probes"]
    return {yaw: {"raw": v["raw"] / v["probes"], "frontalized": v["frontalized"] / v["probes"], "probes": v["probes"]}
            for yaw, v in sorted(merged.items(), key=lambda kv: (kv[0] == "all", kv[0] if kv[0] != "all" else 0))}


def quick_rank1(generator, cfg, rows: list[dict], device, per_yaw: int = 24) -> dict:
    """The training loop's periodic check: a fixed subsample of probes per yaw."""
    was_training = generator.training
    generator.eval()
    try:
        rec = recognizer_for(cfg.loss.recognizer, device)
        return rank1_raw_and_frontalized(rec, generator, Path(cfg.data.prepared), rows, cfg.data.size, device, per_yaw)
    finally:
        generator.train(was_training)
