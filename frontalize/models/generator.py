"""The frontalization generator: VGG-Face encoder, relu7 bottleneck, pix2pix decoder with bridges, three scales.

    input (S) -> VGG blocks (bridges at S/2 ... S/32) -> relu7 (4096 x width)
    relu7 -> reshape (256w, 4, 4) -> transposed convs -> (256w, S/16, S/16)      [never a dense layer to that map]
    decoder: S/16 -(+bridge S/16)-> S/8 -(+bridge S/8)-> S/4 => out S/4
                                           -(+bridge S/4)-> S/2 => out S/2 -(+bridge S/2)-> S => out S
    each scale begins by joining the bottleneck map (resized), so identity reaches every output directly;
    each scale's RGB is a residual on the upsampled RGB of the scale below (skip-RGB).

Pixel-norm + ReLU after every decoder convolution except the first decoder
layer and the to-RGB layers (tanh).  Optional: fuse the encoder codes of the
input and of its mirror image (the notes' to-do list).

Geometry (``model.geometry``; geometry/warp.py): the input's own pixels are carried to the frontal layout
by the reference face's warp for the input's pose, so the decoder corrects instead of redrawing.
    none      the notes' generator (the named settings 1_1 ... 1_8)
    pixels    the encoder sees the warped picture: every bridge is already in the frontal layout
    features  the encoder sees the input; every bridge is warped with the same grid (FFWM's feature warping)
In both geometry modes the warped picture and its visibility mask join the full-size block, and each
output is the warped picture plus what the decoder adds (in tanh's logit space), so training starts from
the geometric frontalization.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from frontalize.geometry.warp import FrontalWarp, Warped
from frontalize.models.init import init_weights
from frontalize.models.vgg import VGGFaceEncoder

GEOMETRY_MODES = ("none", "pixels", "features")  # and "refine": the warp refiner (models/refiner.py)
BASE_CLAMP = 0.97  # the warped picture enters tanh's logit space clamped: atanh(+-1) is infinite


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit RMS (ProGAN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the statistic in float32 whatever autocast chose: in float16 the mean square of small activations
        # underflows and the gradient of rsqrt overflows (NaN gradients in the whole generator)
        return x * torch.rsqrt(x.float().pow(2).mean(dim=1, keepdim=True) + 1e-8).to(x.dtype)


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        PixelNorm(),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        PixelNorm(),
        nn.ReLU(inplace=True),
    )


def bottleneck_upsampler(channels: int, target: int, start: int = 4) -> nn.Sequential:
    """Transposed convolutions from start x start to target x target (stride 2 while it fits, then one stride-1)."""
    layers, size = [], start
    while size < target:
        if size * 2 <= target:
            layers.append(nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1))
            size *= 2
        else:
            layers.append(nn.ConvTranspose2d(channels, channels, target - size + 1, stride=1))
            size = target
        layers.append(nn.ReLU(inplace=True))
    if size > target:
        raise ValueError(f"crop size gives a {target}x{target} bottleneck, smaller than the 4x4 reshape")
    return nn.Sequential(*layers)


class Generator(nn.Module):
    def __init__(
        self,
        size: int = 128,
        width: float = 1.0,
        encoder_weights: str | None = None,
        freeze_encoder: bool = False,
        mirror_fusion: bool = False,
        input_bridge: bool = False,
        geometry: str = "none",
    ):
        super().__init__()
        if size % 32 or size < 64:
            raise ValueError(f"crop size must be a multiple of 32 and at least 64, got {size}")
        if geometry not in GEOMETRY_MODES:
            raise ValueError(f"unknown model.geometry {geometry!r}: {', '.join(GEOMETRY_MODES)}")
        self.size = size
        self.geometry = geometry
        self.warp = FrontalWarp(size) if geometry != "none" else None
        self.mirror_fusion = mirror_fusion
        self.input_bridge = input_bridge
        self.encoder = VGGFaceEncoder(width=width, weights=encoder_weights, frozen=freeze_encoder)
        self.encoder_pretrained = encoder_weights is not None
        code = self.encoder.code_dim
        if code % 16:
            raise ValueError("relu7 width must be divisible by 16 to reshape to (C, 4, 4)")
        self.bottleneck_channels = code // 16
        cb = self.bottleneck_channels
        self.bottleneck = bottleneck_upsampler(cb, size // 16)
        e1, e2, e3, e4, _ = self.encoder.block_channels  # bridges at S/2, S/4, S/8, S/16
        d = lambda c: max(8, int(round(c * width)))  # noqa: E731 - decoder widths
        # first decoder layer: no pixel-norm (as in the notes)
        self.dec16 = nn.Sequential(nn.Conv2d(cb + e4, d(512), 3, padding=1), nn.ReLU(inplace=True))
        self.dec8 = _conv_block(d(512) + e3, d(256))
        self.join = nn.ModuleList([nn.Conv2d(cb, d(32), 1) for _ in range(3)])  # bottleneck into each scale
        self.dec4 = _conv_block(d(256) + e2 + d(32), d(128))
        self.dec2 = _conv_block(d(128) + e1 + d(32), d(64))
        # optional: the input picture itself joins the last block, so near-frontal inputs can keep their
        # full-resolution detail (the VGG bridges start at S/2)
        warped = 4 if self.warp is not None else 0  # the warped picture and its visibility
        self.dec1 = _conv_block(d(64) + d(32) + (3 if input_bridge else 0) + warped, d(32))
        self.to_rgb = nn.ModuleList([nn.Conv2d(c, 3, 3, padding=1) for c in (d(128), d(64), d(32))])
        for m in (self.bottleneck, self.dec16, self.dec8, self.join, self.dec4, self.dec2, self.dec1, self.to_rgb):
            init_weights(m)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        code, bridges = self.encoder(x)
        if self.mirror_fusion:
            mirrored, _ = self.encoder(torch.flip(x, dims=[3]))
            code = 0.5 * (code + mirrored)
        return code, bridges

    def forward(self, x: torch.Tensor, pose: torch.Tensor | None = None, inside: torch.Tensor | None = None
                ) -> list[torch.Tensor]:
        """Frontal faces in [-1, 1] at S/4, S/2 and S.  ``pose`` (B, 12): the inputs' poses, for the geometry modes;
        ``inside`` (B, 1, S, S): where each crop shows its photo (geometry/warp.py), None for crops wholly inside."""
        warped = self._warped(x, pose, inside)
        code, (b2, b4, b8, b16, _) = self.encode(warped.picture if self.geometry == "pixels" else x)
        if self.geometry == "features":
            b2, b4, b8, b16 = (self.warp.features(b, warped) for b in (b2, b4, b8, b16))
        z = self.bottleneck(code.view(-1, self.bottleneck_channels, 4, 4))
        h = self.dec16(torch.cat([z, b16], 1))
        h = self.dec8(torch.cat([_up(h), b8], 1))
        full = [t for t in (x if self.input_bridge else None,
                            *((warped.picture, warped.visible) if warped is not None else ())) if t is not None]
        outs, rgb = [], None
        for i, (block, bridge) in enumerate(((self.dec4, [b4]), (self.dec2, [b2]), (self.dec1, full))):
            h = _up(h)
            joined = self.join[i](F.interpolate(z, size=h.shape[-2:], mode="bilinear", align_corners=False))
            h = block(torch.cat([h, *bridge, joined], 1))
            # skip-RGB (as in StyleGAN2): each scale adds detail to the upsampled picture of the scale below,
            # so the full-size output starts from what the coarse scales already learned
            residual = self.to_rgb[i](h)
            rgb = residual if rgb is None else residual + F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
            outs.append(torch.tanh(rgb if warped is None else rgb + _logit(warped.picture, h.shape[-1])))
        return outs

    def _warped(self, x: torch.Tensor, pose: torch.Tensor | None, inside: torch.Tensor | None = None) -> Warped | None:
        if self.warp is None:
            return None
        if pose is None:
            raise ValueError(f"model.geometry={self.geometry} needs the inputs' poses (landmarks in the manifest)")
        return self.warp(x, pose, inside)


def _logit(picture: torch.Tensor, side: int) -> torch.Tensor:
    """The warped picture at one output scale, in tanh's logit space."""
    if picture.shape[-1] != side:
        picture = F.avg_pool2d(picture, picture.shape[-1] // side)
    return torch.atanh(picture.clamp(-BASE_CLAMP, BASE_CLAMP))


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")
