"""PatchGAN critics: one per generator output scale, or five on face regions of the template.

PatchGAN as in the notes: kernel 4, stride 2, leaky ReLU 0.2, no normalisation
on the first and last layers, instance norm or layer norm in between (layer
norm = GroupNorm with one group: per-sample statistics, so WGAN-GP's
per-sample gradient penalty stays valid, which batch norm would break).
Inputs are images in [-1, 1] (the notes' x / 127.5 - 1).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from frontalize.data.template import region_boxes
from frontalize.models.init import init_weights
from frontalize.registry import Registry

DISCRIMINATORS = Registry("discriminator set")
REGIONS = ("whole", "eyes", "nose", "mouth", "face")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}: instance, layer or none")


def patch_layers_for(size: int, max_layers: int = 3) -> int:
    """Stride-2 layers that still leave a patch map of at least 2x2 after the two stride-1 layers."""
    n, s = 0, size
    while n < max_layers and (s // 2) - 4 >= 2:
        s //= 2
        n += 1
    return max(n, 1)


class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels: int = 3, width: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for i in range(1, n_layers):
            c_next = width * min(2**i, 8)
            layers += [nn.Conv2d(c, c_next, 4, 2, 1), _norm(norm, c_next), nn.LeakyReLU(0.2, inplace=True)]
            c = c_next
        c_next = width * min(2**n_layers, 8)
        layers += [nn.Conv2d(c, c_next, 4, 1, 1), _norm(norm, c_next), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Conv2d(c_next, 1, 4, 1, 1)]  # no norm on the last layer
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DiscriminatorSet(nn.Module):
    """Named critics and, for each, how to pick its input from the generator's outputs (a list of scales)."""

    names: tuple[str, ...]

    def inputs(self, images: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, images: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: self.critics[name](x) for name, x in self.inputs(images).items()}


@DISCRIMINATORS.register("scales")
class ScaleDiscriminators(DiscriminatorSet):
    """One PatchGAN per output scale (S/4, S/2, S)."""

    def __init__(self, size: int, width: int = 64, norm: str = "instance"):
        super().__init__()
        self.names = ("scale4", "scale2", "scale1")
        sides = (size // 4, size // 2, size)
        self.critics = nn.ModuleDict(
            {n: PatchDiscriminator(3, width, patch_layers_for(s), norm) for n, s in zip(self.names, sides)}
        )

    def inputs(self, images):
        return dict(zip(self.names, images))


@DISCRIMINATORS.register("regions")
class RegionDiscriminators(DiscriminatorSet):
    """Five PatchGANs on the full-size output: whole image, eyes, nose, mouth, face (template boxes)."""

    def __init__(self, size: int, width: int = 64, norm: str = "layer"):
        super().__init__()
        self.names = REGIONS
        self.boxes = {"whole": (0, 0, size, size), **region_boxes(size)}
        self.critics = nn.ModuleDict()
        for name in REGIONS:
            x0, y0, x1, y1 = self.boxes[name]
            self.critics[name] = PatchDiscriminator(3, width, patch_layers_for(min(x1 - x0, y1 - y0)), norm)

    def inputs(self, images):
        full = images[-1]
        return {n: crop_region(full, self.boxes[n]) for n in REGIONS}


@DISCRIMINATORS.register("regions+scales")
class RegionAndScaleDiscriminators(RegionDiscriminators):
    """The five region critics on the full output, plus one critic for each smaller scale (S/4, S/2)."""

    def __init__(self, size: int, width: int = 64, norm: str = "layer"):
        super().__init__(size, width, norm)
        self.names = REGIONS + ("scale4", "scale2")
        for name, side in (("scale4", size // 4), ("scale2", size // 2)):
            self.critics[name] = PatchDiscriminator(3, width, patch_layers_for(side), norm)

    def inputs(self, images):
        return {**super().inputs(images), "scale4": images[0], "scale2": images[1]}


def crop_region(x: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    x0, y0, x1, y1 = box
    return x[..., y0:y1, x0:x1]


def build_discriminators(kind: str, size: int, width: int, norm: str) -> DiscriminatorSet:
    return DISCRIMINATORS.get(kind)(size=size, width=width, norm=norm)


def downscale_pyramid(x: torch.Tensor) -> list[torch.Tensor]:
    """A full-size image as the generator's three scales (S/4, S/2, S): how real images meet the critics."""
    return [F.avg_pool2d(x, 4), F.avg_pool2d(x, 2), x]
