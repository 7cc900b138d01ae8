"""The notes' weight initialisation for the decoder and the critics: N(0, 0.02) for every conv and linear layer.

(The encoder starts otherwise: see models/vgg.py.)
"""
from __future__ import annotations

from torch import nn

STD = 0.02


def init_weights(module: nn.Module, std: float = STD) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
