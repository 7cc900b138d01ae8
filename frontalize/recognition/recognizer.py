"""The shared recognizer: one frozen embedding network for the identity loss and the evaluation.

Input contract: RGB faces in [-1, 1], either template-aligned crops of any size (what prep and the
generator produce; their ArcFace region is a fixed central window, see frontalize.data.template) or
ArcFace-aligned 112x112 crops (``arcface_aligned=True``).  Output: L2-normalised embeddings.
The network stays frozen and in eval mode whatever its owner does; gradients flow to the *input*,
which is what the identity loss needs.

A recognizer file is one of: our final checkpoint (``recognizer.pt``: weights, architecture, training record), one
of its trainer's step checkpoints (``checkpoints/step_*.pt``: the same and the optimiser's state), or a bare
arcface_torch state dict (weights only: its architecture is given, and it records nothing).  Whatever the layout,
the record is read where the file has one (``recognizer_record``), and the weights have one digest
(``weights_digest``), so a copy in another layout is the same network.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch import nn
from torch.nn import functional as F

from frontalize.data.template import ARCFACE_SIZE, TEMPLATE_ZOOM
from frontalize.recognition.iresnet import IResNet, backbone_shape, get_backbone, load_backbone_weights
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


def backbone_weights(state) -> dict:
    """The backbone's tensors of a recognizer file's contents, whatever its layout."""
    weights = state["backbone"] if isinstance(state, dict) and "backbone" in state else state
    if not isinstance(weights, dict) or not any(isinstance(v, torch.Tensor) for v in weights.values()):
        raise ValueError("no backbone weights in it")
    return {k: v for k, v in weights.items() if isinstance(v, torch.Tensor)}


def weights_digest(path: str | Path) -> str:
    """The first 16 hex digits of the SHA-256 of the backbone's tensors (names, dtypes, shapes, bytes): one value for
    the same weights in any file or layout."""
    try:
        weights = backbone_weights(load_lazily(path))
    except ValueError as e:
        raise ValueError(f"{path}: not a recognizer ({e})") from None
    h = hashlib.sha256()
    for name in sorted(weights):
        t = weights[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class RecognizerFile:
    """What tells two recognizer files apart: where, which weights, which architecture, which seed."""

    path: Path
    digest: str
    architecture: tuple[str, float, int] | None  # (depths, width, embedding) as built; None: not recorded
    seed: int | None  # the training seed; None: not recorded

    def describe_architecture(self) -> str:
        if self.architecture is None:
            return "architecture not recorded"
        depths, width, embedding = self.architecture
        return f"IResNet {depths} layout at width {width:g}, {embedding}-d"


def _training_seed(state, path: Path, record: TrainedOn | None) -> int | None:
    """The seed it was trained with: its record's, a step checkpoint's config, else its run folder's config.yaml."""
    if record is not None and "seed" in record.notes:
        return int(record.notes["seed"])
    texts = [state["config"]] if isinstance(state, dict) and isinstance(state.get("config"), str) else []
    if (path.parent / "config.yaml").exists():
        texts.append((path.parent / "config.yaml").read_text())
    for text in texts:
        doc = yaml.safe_load(text) or {}
        if "arch" in (doc.get("model") or {}) and "seed" in (doc.get("train") or {}):  # a recognizer's config
            return int(doc["train"]["seed"])
    return None


def recognizer_file(path: str | Path, arch: str | None = None, record: TrainedOn | None = None) -> RecognizerFile:
    """``path``'s digest, architecture (its own, else ``arch`` for a bare state dict) and training seed."""
    path = Path(path)
    state = load_lazily(path)
    bc = backbone_config(state)
    shape = backbone_shape(bc["arch"], bc["width"], bc["embedding"]) if bc else backbone_shape(arch) if arch else None
    return RecognizerFile(path, weights_digest(path), shape, _training_seed(state, path, record))


def _prepare(rec: Recognizer, images: torch.Tensor) -> torch.Tensor:
    return images.clamp(-1, 1) if rec.arcface_aligned else template_to_arcface(images).clamp(-1, 1)
