"""IResNet backbones with the state-dict layout of insightface's ``arcface_torch`` checkpoints.

Top-level modules conv1, bn1, prelu, layer1-4, bn2, dropout, fc, features; each block bn1, conv1, bn2,
prelu, conv2, bn3 and, where the shape changes, downsample.{0: conv1x1, 1: BatchNorm}.  So a user's
``backbone.pth`` from arcface_torch loads strictly into ``get_backbone("r50")``.
Input: 112x112 RGB normalised as (x / 255 - 0.5) / 0.5, i.e. [-1, 1]; output: the (unnormalised)
embedding.  ``width`` < 1 narrows every stage for CPU training (then no published weights fit).
"""
from __future__ import annotations

import torch
from torch import nn

DEPTHS = {"r18": (2, 2, 2, 2), "r34": (3, 4, 6, 3), "r50": (3, 4, 14, 3), "r100": (3, 13, 30, 3)}
INPUT_SIZE = 112


class IBasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in, eps=1e-5)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, eps=1e-5)
        self.prelu = nn.PReLU(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out, eps=1e-5)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out, eps=1e-5))

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    def __init__(self, depths=(2, 2, 2, 2), width: float = 1.0, embedding: int = 512, dropout: float = 0.0):
        super().__init__()
        chans = [max(8, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(3, chans[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(chans[0], eps=1e-5)
        self.prelu = nn.PReLU(chans[0])
        c_in = chans[0]
        for i, (c, n) in enumerate(zip(chans, depths)):
            blocks = [IBasicBlock(c_in, c, 2)] + [IBasicBlock(c, c, 1) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            c_in = c
        self.bn2 = nn.BatchNorm2d(c_in, eps=1e-5)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(c_in * 7 * 7, embedding)
        self.features = nn.BatchNorm1d(embedding, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False  # as in arcface_torch
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        for m in self.modules():  # zero-init the last BN of each residual branch: each block starts as identity
            if isinstance(m, IBasicBlock):
                nn.init.constant_(m.bn3.weight, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"IResNet takes {INPUT_SIZE}x{INPUT_SIZE} aligned faces, got {tuple(x.shape[-2:])}")
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


def backbone_shape(name: str, width: float = 1.0, embedding: int = 512) -> tuple[str, float, int]:
    """(depths, width, embedding) that ``get_backbone`` builds: ``tiny`` is r18's depths at a quarter width, 128-d."""
    if name == "tiny":
        return "r18", 0.25 if width == 1.0 else width, 128 if embedding == 512 else embedding
    if name not in DEPTHS:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join([*DEPTHS, 'tiny'])}")
    return name, width, embedding


def get_backbone(name: str, width: float = 1.0, embedding: int = 512, dropout: float = 0.0) -> IResNet:
    """r18 / r34 / r50 / r100 as published by arcface_torch; ``tiny``: r18 depths at a quarter width, 128-d."""
    depths, width, embedding = backbone_shape(name, width, embedding)
    return IResNet(DEPTHS[depths], width, embedding, dropout if name != "tiny" else 0.0)


def load_backbone_weights(model: IResNet, path) -> None:
    """Strictly load an arcface_torch ``backbone.pth`` (a plain state dict) or one of our checkpoints."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"recognizer weights not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "backbone" in state:
        state = state["backbone"]
    model.load_state_dict(state, strict=True)
