"""VGG-16 in the VGG-Face layer layout: the generator's encoder and an identity feature extractor.

Layers are named as in VGG-Face (conv1_1 ... conv5_3, fc6, fc7); ``relu7``
(4096-d at full width) is the identity-rich code.  Weights load from a local
file in either of the two commonly shared converted layouts:

- "dag" layout (e.g. ``vgg_face_dag.pth``): ``conv1_1.weight`` ... ``conv5_3.bias``,
  ``fc6.weight`` (4096, 25088), ``fc7.weight``; ``fc8`` (the 2622 VGG-Face classes) is dropped.
- torchvision layout: ``features.{0,2,5,7,10,12,14,17,19,21,24,26,28}.*`` for the 13 convolutions,
  ``classifier.0.*`` for fc6 and ``classifier.3.*`` for fc7; ``classifier.6`` is dropped.

Input: RGB in [-1, 1]; converted inside to VGG-Face's 0-255 RGB minus its mean.
At inputs other than 224, conv5's map is adaptively average-pooled to 7x7
(torchvision's convention), so fc6 keeps its 25088 inputs and pretrained fc6
weights load at any input size.  ``width`` narrows every layer for CPU
configurations; VGG-Face weights need ``width=1``, an encoder written at another width (identity
pretraining, ``vgg_face_dag_state``) loads at that width.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
CONV_NAMES = [f"conv{b + 1}_{i + 1}" for b, (_, n) in enumerate(BLOCKS) for i in range(n)]
TORCHVISION_CONV_INDEX = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
VGG_FACE_MEAN_RGB = (129.186279296875, 104.76238250732422, 93.59396362304688)


class VGGFaceEncoder(nn.Module):
    """Returns relu7 and the output of each conv block (after its pooling): the generator's bridges."""

    def __init__(self, width: float = 1.0, weights: str | Path | None = None, frozen: bool = False):
        super().__init__()
        self.width = width
        ch_in = 3
        self.blocks = nn.ModuleList()
        for b, (ch, n) in enumerate(BLOCKS):
            layers = nn.ModuleDict()
            c = max(8, int(round(ch * width)))
            for i in range(n):
                layers[f"conv{b + 1}_{i + 1}"] = nn.Conv2d(ch_in, c, 3, padding=1)
                ch_in = c
            self.blocks.append(layers)
        self.block_channels = [max(8, int(round(ch * width))) for ch, _ in BLOCKS]
        self.code_dim = max(64, int(round(4096 * width)))
        self.pool = nn.AdaptiveAvgPool2d(7)
        self.fc6 = nn.Linear(ch_in * 49, self.code_dim)
        self.fc7 = nn.Linear(self.code_dim, self.code_dim)
        self.register_buffer("mean", torch.tensor(VGG_FACE_MEAN_RGB).view(1, 3, 1, 1), persistent=False)
        if weights is not None:
            self.load_vgg_face(weights)
        else:
            self._init_from_scratch()
        if frozen:
            self.requires_grad_(False)

    def _init_from_scratch(self) -> None:
        # N(0, 0.02) (the notes' default, right for the decoder and critics) makes a 15-layer ReLU stack's
        # activations vanish; Kaiming keeps them alive.  The first layer sees VGG-Face's 0-255 range.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        with torch.no_grad():
            self.blocks[0]["conv1_1"].weight.mul_(1 / 64.0)

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        return {name: conv for block in self.blocks for name, conv in block.items()}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = (x + 1) * 127.5 - self.mean
        bridges = []
        for block in self.blocks:
            for conv in block.values():
                h = torch.relu(conv(h))
            h = nn.functional.max_pool2d(h, 2)
            bridges.append(h)
        h = torch.flatten(self.pool(h), 1)
        h = torch.relu(self.fc6(h))
        relu7 = torch.relu(self.fc7(h))
        return relu7, bridges

    def load_vgg_face(self, path: str | Path) -> None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"VGG-Face weights not found at {path}. Pass the path of a converted checkpoint "
                "(vgg_face_dag.pth or a torchvision-layout VGG-16), or leave it unset to train from random weights."
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        ours = vgg_face_key_map(state)
        expected = self.state_dict()
        wrong = [k for k, v in ours.items() if k in expected and v.shape != expected[k].shape]
        if wrong:
            raise ValueError(
                f"{path} does not fit a width-{self.width:g} encoder ({wrong[0]}: {tuple(ours[wrong[0]].shape)} vs "
                f"{tuple(expected[wrong[0]].shape)}): VGG-Face weights need model.width=1, weights from "
                "identity pretraining need the width they were trained at"
            )
        self.load_state_dict(ours, strict=True)


def vgg_face_key_map(state: dict) -> dict:
    """Rename a converted VGG-Face state dict (dag or torchvision layout) to our module's keys."""
    ours = {}
    dag = "conv1_1.weight" in state
    tv = "features.0.weight" in state
    if not (dag or tv):
        raise ValueError("unrecognised VGG-Face checkpoint: expected 'conv1_1.weight' or 'features.0.weight' keys")
    block_of = {name: int(name[4]) - 1 for name in CONV_NAMES}
    for k, name in enumerate(CONV_NAMES):
        src = name if dag else f"features.{TORCHVISION_CONV_INDEX[k]}"
        for p in ("weight", "bias"):
            ours[f"blocks.{block_of[name]}.{name}.{p}"] = state[f"{src}.{p}"]
    for fc, tv_index in (("fc6", 0), ("fc7", 3)):
        src = fc if dag else f"classifier.{tv_index}"
        for p in ("weight", "bias"):
            w = state[f"{src}.{p}"]
            ours[f"{fc}.{p}"] = w.reshape(w.shape[0], -1) if p == "weight" else w  # some dumps keep fc6 as a 7x7 conv
    return ours


def vgg_face_dag_state(encoder: VGGFaceEncoder) -> dict:
    """Our module's weights under the "dag" layout's keys (the inverse of ``vgg_face_key_map``): saved, they
    load through ``model.encoder_weights`` like a converted VGG-Face checkpoint."""
    out = {}
    for name, conv in encoder.conv_layers().items():
        out[f"{name}.weight"], out[f"{name}.bias"] = conv.weight.detach().cpu().clone(), conv.bias.detach().cpu().clone()
    for fc in ("fc6", "fc7"):
        layer = getattr(encoder, fc)
        out[f"{fc}.weight"], out[f"{fc}.bias"] = layer.weight.detach().cpu().clone(), layer.bias.detach().cpu().clone()
    return out
