"""The combined-margin head: target logit s * (cos(m1 * theta + m2) - m3), others s * cos(theta).

All three margins are applied together (insightface's current module drops m2 when m3 > 0; this one
does not).  Safe at the edges: cos is clamped inside (-1, 1) before acos, so theta = 0 has a finite
gradient; where m1 * theta + m2 passes pi, cos turns back up and the margin would *help* a badly wrong
sample, so the target logit is never allowed above the plain cos(theta) (the notes' clipped variant).
"""
from __future__ import annotations


import torch
from torch import nn
from torch.nn import functional as F

PRESETS = {
    "arcface": (1.0, 0.5, 0.0),
    "cosface": (1.0, 0.0, 0.35),
    "sphereface": (1.35, 0.0, 0.0),
    "combined": (1.0, 0.3, 0.2),
    "softmax": (1.0, 0.0, 0.0),  # W & feature normalised softmax
}
EPS = 1e-6


def margin_target(cos_t: torch.Tensor, m1: float, m2: float, m3: float) -> torch.Tensor:
    theta = torch.acos(cos_t.clamp(-1 + EPS, 1 - EPS))
    modified = torch.cos(m1 * theta + m2) - m3
    return torch.minimum(modified, cos_t)


class CombinedMarginHead(nn.Module):
    def __init__(self, embedding: int, classes: int, margins=PRESETS["arcface"], scale: float = 64.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes, embedding))
        nn.init.normal_(self.weight, 0, 0.01)
        self.m1, self.m2, self.m3 = (float(m) for m in margins)
        self.scale = scale

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(embeddings), F.normalize(self.weight))

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logits for cross-entropy."""
        cos = self.cosine(embeddings.float())
        target = margin_target(cos.gather(1, labels[:, None]), self.m1, self.m2, self.m3)
        logits = cos.scatter(1, labels[:, None], target)
        return self.scale * logits


def preset(name: str) -> tuple[float, float, float]:
    if name not in PRESETS:
        raise KeyError(f"unknown margin preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]


