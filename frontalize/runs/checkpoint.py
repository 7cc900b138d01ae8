"""Full-state checkpoints: written atomically, kept last-N plus best, loaded with weights_only=True.

A checkpoint is a dict of state dicts and plain values (tensors, numbers, strings), so
``torch.load(weights_only=True)`` reads it without unpickling code.  RNG states are torch tensors.
"""
from __future__ import annotations

import math
import random
import re
from pathlib import Path

import torch

from frontalize.utils.io import atomic_open

CKPT = re.compile(r"^step_(\d{8})\.pt$")


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside DistributedDataParallel and torch.compile wrappers."""
    while True:
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]), "python_version": random.getstate()[0]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, state: dict) -> None:
    with atomic_open(path) as f:
        torch.save(state, f)


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def step_path(ckpt_dir: Path, step: int) -> Path:
    return Path(ckpt_dir) / f"step_{step:08d}.pt"


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    if not Path(ckpt_dir).is_dir():
        return []
    return sorted(p for p in Path(ckpt_dir).iterdir() if CKPT.match(p.name))


def latest(ckpt_dir: Path) -> Path | None:
    found = list_checkpoints(ckpt_dir)
    return found[-1] if found else None


def prune(ckpt_dir: Path, keep_last: int) -> None:
    for p in list_checkpoints(ckpt_dir)[:-keep_last] if keep_last > 0 else []:
        p.unlink(missing_ok=True)


class NonFiniteLoss(RuntimeError):
    """Training stops instead of going on with NaN or inf."""


def check_finite(step: int, terms: dict) -> None:
    """Raise NonFiniteLoss naming the first term that is NaN or infinite (one device sync for all of them)."""
    tensors = [v.detach().float().reshape(()) for v in terms.values() if isinstance(v, torch.Tensor)]
    numbers = [float(v) for v in terms.values() if not isinstance(v, torch.Tensor)]
    if (not tensors or bool(torch.isfinite(torch.stack(tensors)).all())) and all(math.isfinite(v) for v in numbers):
        return
    for name, value in terms.items():
        v = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
        if v != v or v in (float("inf"), float("-inf")):
            raise NonFiniteLoss(f"non-finite loss term '{name}' = {v} at step {step}; the last good checkpoint is kept")
