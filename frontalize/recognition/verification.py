"""Verification on insightface `.bin` pair files (LFW / CFP-FP / AgeDB style): 10-fold accuracy.

(Identification, rank-1 by pose, is evaluation/identification.py.)
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import cv2
import numpy as np
import torch

from frontalize.data.images import to_tensor
from frontalize.utils.io import atomic_write_bytes


class _SafeUnpickler(pickle.Unpickler):
    """`.bin` files are pickles of bytes, lists and bools (sometimes numpy arrays): allow those only."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("builtins", "bytearray"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a .bin pair file")


def load_pairs_bin(path: Path) -> tuple[list[bytes], np.ndarray]:
    data = Path(path).read_bytes()
    bins, issame = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    issame = np.asarray(issame, dtype=bool)
    if len(bins) != 2 * len(issame):
        raise ValueError(f"{path}: {len(bins)} images for {len(issame)} pairs (expected two per pair)")
    return list(bins), issame


def write_pairs_bin(path: Path, images: list[np.ndarray], issame: list[bool]) -> None:
    """Write RGB 112x112 images as a `.bin` pair file (consecutive images form a pair)."""
    bins = [cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR))[1].tobytes() for im in images]
    atomic_write_bytes(path, pickle.dumps((bins, list(map(bool, issame))), protocol=4))


def ten_fold_accuracy(distances: np.ndarray, issame: np.ndarray, folds: int = 10) -> tuple[float, float, float]:
    """Standard LFW protocol: per fold, the threshold best on the other nine folds, accuracy on this one."""
    thresholds = np.arange(0, 4, 0.01)
    n = len(issame)
    order = np.arange(n)
    fold_of = order * folds // n
    accs, chosen = [], []
    for k in range(folds):
        train, test = fold_of != k, fold_of == k
        train_acc = [np.mean((distances[train] < t) == issame[train]) for t in thresholds]
        t = thresholds[int(np.argmax(train_acc))]
        accs.append(np.mean((distances[test] < t) == issame[test]))
        chosen.append(t)
    return float(np.mean(accs)), float(np.std(accs)), float(np.mean(chosen))


@torch.no_grad()
def verify_bin(recognizer, path: Path, batch_size: int = 64, flip: bool = True, device: str = "cpu") -> dict:
    bins, issame = load_pairs_bin(path)
    embeddings = []
    for i in range(0, len(bins), batch_size):
        chunk = []
        for b in bins[i : i + batch_size]:
            img = cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"{path}: undecodable image in the pair file")
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            if img.shape[:2] != (112, 112):
                img = cv2.resize(img, (112, 112), interpolation=cv2.INTER_AREA)
            chunk.append(to_tensor(img))
        embeddings.append(recognizer.embed(torch.stack(chunk).to(device), flip=flip).cpu())
    e = torch.cat(embeddings).numpy()
    dist = np.sum((e[0::2] - e[1::2]) ** 2, axis=1)
    acc, std, thr = ten_fold_accuracy(dist, issame)
    return {"accuracy": acc, "std": std, "threshold": thr, "pairs": int(len(issame)), "flip": flip}
