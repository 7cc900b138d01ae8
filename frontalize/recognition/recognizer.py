"""The shared recognizer: one frozen embedding network for the identity loss and the evaluation.

Input contract: RGB faces in [-1, 1], either template-aligned crops of any size (what prep and the
generator produce; their ArcFace region is a fixed central window, see frontalize.data.template) or
ArcFace-aligned 112x112 crops (``arcface_aligned=True``).  Output: L2-normalised embeddings.
The network stays frozen and in eval mode whatever its owner does; gradients flow to the *input*,
which is what the identity loss needs.

A recognizer file is one of: our final checkpoint (``recognizer.pt``: weights, architecture, training record), one
of its trainer's step checkpoints (``checkpoints/step_*.pt``: the same and the optimiser's state), or a bare
arcface_torch state dict (weights only: its architecture is given, and it records nothing).  Whatever the layout,
the record is read where the file has one (``recognizer_record``).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml
from torch import nn
from torch.nn import functional as F

from frontalize.data.template import ARCFACE_SIZE, TEMPLATE_ZOOM
from frontalize.recognition.iresnet import IResNet, get_backbone, load_backbone_weights
from frontalize.runs.provenance import TrainedOn, load_lazily, record_of

# the template crop resized so that its ArcFace window is exactly ARCFACE_SIZE pixels, then cut out
_RESIZED = int(round(ARCFACE_SIZE / TEMPLATE_ZOOM))
_OFFSET = (_RESIZED - ARCFACE_SIZE) // 2


def template_to_arcface(images: torch.Tensor) -> torch.Tensor:
    """Template-aligned crops (B, 3, S, S) -> ArcFace-aligned (B, 3, 112, 112), differentiably."""
    x = F.interpolate(images, size=(_RESIZED, _RESIZED), mode="bilinear", antialias=True, align_corners=False)
    return x[..., _OFFSET : _OFFSET + ARCFACE_SIZE, _OFFSET : _OFFSET + ARCFACE_SIZE]


class Recognizer(nn.Module):
    def __init__(self, backbone: IResNet, arcface_aligned: bool = False):
        super().__init__()
        self.backbone = backbone.eval().requires_grad_(False)
        self.arcface_aligned = arcface_aligned

    def train(self, mode: bool = True):  # frozen: batch-norm statistics never move
        return super().train(False)

    @property
    def dim(self) -> int:
        return self.backbone.fc.out_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected (B, 3, H, W) RGB images, got {tuple(images.shape)}")
        if not self.arcface_aligned:
            images = template_to_arcface(images)
        elif images.shape[-2:] != (ARCFACE_SIZE, ARCFACE_SIZE):
            raise ValueError(f"ArcFace-aligned input must be {ARCFACE_SIZE}x{ARCFACE_SIZE}, got {tuple(images.shape[-2:])}")
        return F.normalize(self.backbone(images.clamp(-1, 1)).float(), dim=1)

    @torch.no_grad()
    def embed(self, images: torch.Tensor, flip: bool = False) -> torch.Tensor:
        """Embeddings for evaluation; ``flip`` sums those of the image and its mirror (test-time augmentation)."""
        e = self.backbone(_prepare(self, images))
        if flip:
            e = e + self.backbone(_prepare(self, torch.flip(images, dims=[3])))
        return F.normalize(e.float(), dim=1)

    @classmethod
    def load(cls, path: str | Path, arch: str | None = None, device: str = "cpu") -> "Recognizer":
        """Our recognizer checkpoint (it knows its architecture), or an arcface_torch backbone.pth with ``arch``."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"recognizer checkpoint not found: {path}. Train one with "
                "`python scripts/train_recognizer.py --config configs/recognizer_synthpie.yaml`, "
                "or pass an arcface_torch backbone.pth with its architecture (r18/r34/r50/r100)."
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        bc = backbone_config(state)
        if bc is not None:
            model = get_backbone(bc["arch"], bc["width"], bc["embedding"])
            model.load_state_dict(state["backbone"], strict=True)
        else:
            if arch is None:
                raise ValueError(f"{path} is a bare backbone state dict: say which architecture it is (r18/r34/r50/r100)")
            model = get_backbone(arch)
            load_backbone_weights(model, path)
        return cls(model).to(device)


def backbone_config(state) -> dict | None:
    """The architecture a recognizer file records (arch, width, embedding): ``backbone_config`` (final checkpoints,
    and step checkpoints since they carry it), else a step checkpoint's recognizer config; None for a bare state dict."""
    if not isinstance(state, dict) or "backbone" not in state:
        return None
    if "backbone_config" in state:
        return json.loads(state["backbone_config"])
    if isinstance(state.get("config"), str):  # a step checkpoint written before it carried backbone_config
        model = (yaml.safe_load(state["config"]) or {}).get("model") or {}
        if "arch" in model:
            return {"arch": model["arch"], "width": model.get("width", 1.0), "embedding": model.get("embedding", 512)}
    return None


def recognizer_record(path: str | Path) -> TrainedOn:
    """What a recognizer file was trained on, whatever its layout (final or step checkpoint): its record;
    ``Unrecorded`` when it has none (a bare state dict, weights from elsewhere: only the user can vouch for those)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"recognizer checkpoint not found: {path}")
    return record_of(load_lazily(path), path, "recognizer")


def _prepare(rec: Recognizer, images: torch.Tensor) -> torch.Tensor:
    return images.clamp(-1, 1) if rec.arcface_aligned else template_to_arcface(images).clamp(-1, 1)
