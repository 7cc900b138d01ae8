"""Mixed precision: one policy for both trainers (autocast dtype, and whether a GradScaler is needed).

bfloat16, the default on CUDA, keeps float32's exponent range: no loss scaling is needed and WGAN-GP's
double backward needs no special care.  float16 needs a GradScaler per optimiser, and WGAN-GP's penalty is
then computed in float32 (training/phases.py): its inner gradients would underflow unscaled and overflow
scaled.  CPU runs stay in float32 (``train.amp`` applies on CUDA), except where a caller asks for a
precision explicitly.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Precision:
    device_type: str
    dtype: torch.dtype | None = None  # None: float32 throughout

    @property
    def name(self) -> str:
        return "float32" if self.dtype is None else str(self.dtype).replace("torch.", "")

    @property
    def needs_scaler(self) -> bool:
        return self.dtype == torch.float16

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        # 2^10 rather than PyTorch's 2^16: terms weighted by hundreds (identity 500) overflow float16 at 2^16, and
        # every step until the scale has halved its way down would be skipped
        return torch.amp.GradScaler(self.device_type, init_scale=2.0**10, enabled=self.needs_scaler)


def choose_precision(device: torch.device, amp: bool, dtype: str) -> Precision:
    """``amp`` with ``dtype`` (bfloat16 | float16) on CUDA; float32 elsewhere or without ``amp``."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown mixed-precision dtype {dtype!r}: {', '.join(DTYPES)}")
    return Precision(device.type, DTYPES[dtype] if amp and device.type == "cuda" else None)
