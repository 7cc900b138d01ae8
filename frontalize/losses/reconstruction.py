"""Image and feature losses of the generator: L1 per scale, symmetry, identity, total variation, L2 weights."""
from __future__ import annotations

from typing import Protocol

import torch
from torch import nn
from torch.nn import functional as F

from frontalize.geometry.warp import mirror_about_midline


def l1_multiscale(outputs: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Mean L1 to the frontal target at every output scale (the target area-downscaled to each)."""
    total = 0.0
    for out in outputs:
        t = target if out.shape[-1] == target.shape[-1] else F.adaptive_avg_pool2d(target, out.shape[-2:])
        total = total + (out - t).abs().mean()
    return total / len(outputs)


def symmetry_loss(images: torch.Tensor) -> torch.Tensor:
    """Left-right symmetry about the template's midline on [0, 1] images (inputs in [-1, 1] are mapped first):
    zero for a face that is its own mirror image.  Column 0 has no mirror inside the crop and is left out."""
    x = (images + 1) / 2
    return (x - mirror_about_midline(x))[..., 1:].abs().mean()


SSIM_WINDOW = 7  # scikit-image's default, so the loss and the report's SSIM measure the same thing


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = SSIM_WINDOW) -> torch.Tensor:
    """Per-image mean SSIM of images in [-1, 1], as ``skimage.metrics.structural_similarity`` computes it by default
    (uniform window, sample covariance, K1 0.01, K2 0.03, the borders the window cannot cover left out), averaged
    over channels: (B,).  Differentiable, so it can be a loss."""
    x, y = (a + 1) / 2, (b + 1) / 2  # data range 1
    n = window * window
    mean = lambda t: F.avg_pool2d(t, window, stride=1)  # noqa: E731 - valid positions only, as skimage crops them
    mx, my = mean(x), mean(y)
    cov = n / (n - 1)
    vx, vy = cov * (mean(x * x) - mx * mx), cov * (mean(y * y) - my * my)
    vxy = cov * (mean(x * y) - mx * my)
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


def ssim_loss(output: torch.Tensor, target: torch.Tensor, box: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """1 - SSIM on the whole crop, averaged with 1 - SSIM on ``box`` (x0, y0, x1, y1: the face) when given."""
    whole = 1 - ssim(output, target).mean()
    if box is None:
        return whole
    x0, y0, x1, y1 = box
    return 0.5 * (whole + 1 - ssim(output[..., y0:y1, x0:x1], target[..., y0:y1, x0:x1]).mean())


def total_variation(images: torch.Tensor) -> torch.Tensor:
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return dx + dy


def l2_regularization(module: nn.Module) -> torch.Tensor:
    """Sum of squared weights of conv and linear layers (biases and norms excluded)."""
    total = 0.0
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and m.weight.requires_grad:
            total = total + m.weight.pow(2).sum()
    return total


class IdentityFeatures(Protocol):
    """What the identity loss needs: images in [-1, 1] (the template crop) -> (B, D) features, frozen."""

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


class VGGRelu7Features(nn.Module):
    """relu7 of a frozen VGG-Face encoder (the notes' original identity feature)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)

    def train(self, mode: bool = True):  # stays in eval mode whatever its parent does
        return super().train(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)[0]


class IdentityLoss(nn.Module):
    """Cosine distance between L2-normalised features of output and target: 0 for identical, within [0, 2]."""

    def __init__(self, features: IdentityFeatures):
        super().__init__()
        self.features = features

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        f_out = F.normalize(self.features(output), dim=1)
        with torch.no_grad():
            f_tgt = F.normalize(self.features(target), dim=1)
        return (1 - (f_out * f_tgt).sum(1)).mean()
