"""Shared pieces of identity evaluation: loading crops, embedding them, subsampling probes, and the
training loop's periodic check (the report's evaluation on a fixed probe subsample)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from frontalize.recognition.data import to_tensor
from frontalize.recognition.recognizer import Recognizer
from frontalize.training.data import load_square

_RECOGNIZERS: dict = {}


def recognizer_for(path: str, device) -> Recognizer:
    key = (str(path), str(device))
    if key not in _RECOGNIZERS:
        _RECOGNIZERS[key] = Recognizer.load(path).to(device)
    return _RECOGNIZERS[key]


def load_batch(prepared: Path, paths: list[str], size: int, device) -> torch.Tensor:
    """Crops (paths relative to the prepared folder) as a [-1, 1] batch at ``size``."""
    return torch.stack([to_tensor(load_square(prepared / p, size)) for p in paths]).to(device)


@torch.no_grad()
def embed(recognizer: Recognizer, prepared: Path, rows: list[dict], size: int, device, batch: int = 32,
          flip: bool = False) -> torch.Tensor:
    """Embeddings of the rows' crops, streamed in batches."""
    out = []
    for i in range(0, len(rows), batch):
        x = load_batch(prepared, [r["crop_path"] for r in rows[i : i + batch]], size, device)
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


def quick_rank1(generator, cfg, rows: list[dict], device, per_yaw: int = 24) -> dict:
    """The training loop's periodic check: the report's evaluation on a fixed subsample of probes per yaw."""
    from frontalize.evaluation.report import evaluate_generator

    was_training = generator.training
    try:
        rec = recognizer_for(cfg.loss.recognizer, device)
        result = evaluate_generator(generator, rec, Path(cfg.data.prepared), rows, cfg.data.size, device,
                                    per_yaw=per_yaw, sample_yaws=False)
        return result["table"]
    finally:
        generator.train(was_training)
