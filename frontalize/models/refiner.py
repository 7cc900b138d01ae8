"""The warp refiner (``model.geometry: refine``): learned parts that correct the frontal warp, each with one job.

The geometric warp (geometry/warp.py) carries the input's own pixels to the frontal layout with a mean head and
a pose fitted to five landmarks.  What it cannot know is what the learned parts do:

    flow     a residual on the warp's sampling grid (the subject's own shape and the pose's error: the warp has
             already moved the pixels most of the way, so this is small and smooth, at S/4)
    shading  a per-pixel gain and offset on the warped picture (a mirrored half lit like the near half, the seam)
    fill     a picture and a blend mask for what the warp cannot carry: hair, ears, neck and background beyond
             the reference face, and whatever the input never showed

    output = mask * fill + (1 - mask) * shading(warp(input; grid + flow))

Near the front the warp is already the aligned input, and a learned part can only take from it (issue 28: the
refiner scored below the warp alone at 0 and +-15 degrees, and at +30 on Setting 2): below ``front_blend[0]``
degrees of the input's fitted yaw the output is the warp, beyond ``front_blend[1]`` the refiner's, with a
smoothstep between (default [30, 45], config.py).

A small U-Net reads the warped picture, its visibility, the input itself (whose layout still shows the hair's
outline and the background) and where the reference face is.  Every head starts at zero: flow 0, gain 1, offset 0,
and the fill's mask at 0.018 on the reference face, so training starts there from the geometric frontalization;
beyond the face, where the warp has no geometry, the mask starts at 0.5.  Outputs come at S/4, S/2 and S like the notes' generator
(area-downscaled from the full-size one), so the trainer, the critics and the report treat both alike.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from frontalize.geometry.warp import FrontalWarp
from frontalize.models.generator import PixelNorm
from frontalize.models.init import init_weights

CHANNELS = (64, 128, 256, 512, 1024)  # at S, S/2, S/4, S/8, S/16 for width 1 (the GPU size); the CPU's 0.25: 16 ... 256
FLOW_RANGE = 0.12  # the largest grid correction, in grid_sample's [-1, 1] units (0.12 = 7.7 px at 128 px)
GAIN_RANGE = math.log(2.0)  # the shading gain stays within [1/2, 2]
MASK_PRIOR = -4.0  # on the reference face the fill's blend mask starts at sigmoid(-4) = 0.018: the warp shows through
# beyond it the warp has no geometry (the reference's depth is inpainted there: hair, ears, neck and background come out
# smeared and doubled), so there the fill starts half in (sigmoid(0)); this many pixels of the face's edge count as beyond
FACE_MARGIN = 2
LEARNED_PARTS = ("flow", "shading", "face fill", "fill beyond")  # what ``switched_off`` may name


def learned_parts_note(fixed) -> str:
    """Which of the refiner's parts learned and which were held at the warp (``model.fixed_parts``), for reports."""
    fixed = set(fixed)
    learned = [p for p in LEARNED_PARTS if p not in fixed]
    if not fixed:
        return "learned parts: " + ", ".join(learned)
    return (f"learned parts: {', '.join(learned) or 'none'}; held at the warp: "
            + ", ".join(p for p in LEARNED_PARTS if p in fixed))


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), PixelNorm(), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1), PixelNorm(), nn.LeakyReLU(0.2, inplace=True),
    )


def _head(c_in: int, c_out: int) -> nn.Conv2d:
    head = nn.Conv2d(c_in, c_out, 3, padding=1)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


class WarpRefiner(nn.Module):
    geometry = "refine"

    def __init__(self, size: int = 128, width: float = 1.0, front_blend: tuple = (), keep_background: bool = False,
                 fixed_parts: tuple = ()):
        super().__init__()
        self.front_blend = tuple(float(a) for a in front_blend)
        self.keep_background = keep_background
        if self.front_blend and (len(self.front_blend) != 2 or not 0 <= self.front_blend[0] <= self.front_blend[1]):
            raise ValueError(f"model.front_blend takes two angles, the first not above the second: {front_blend}")
        if size % 32 or size < 64:
            raise ValueError(f"crop size must be a multiple of 32 and at least 64, got {size}")
        self.size = size
        self.warp = FrontalWarp(size)
        c = [max(8, int(round(n * width))) for n in CHANNELS]
        self.enc = nn.ModuleList([_block(8, c[0])] + [_block(c[i - 1], c[i], stride=2) for i in range(1, 5)])
        self.dec = nn.ModuleList([_block(c[i + 1] + c[i], c[i]) for i in range(3, -1, -1)])  # S/8 ... S
        self.to_flow_shading = _head(c[2], 2 + 3 + 3)  # at S/4: flow (x, y), log-gain (RGB), offset (RGB)
        self.to_fill = _head(c[0], 3 + 1)  # at S: fill RGB, mask logit
        init_weights(self.enc)
        init_weights(self.dec)
        face = self.warp.face.view(1, 1, size, size).float()
        inner = -F.max_pool2d(-face, 2 * FACE_MARGIN + 1, stride=1, padding=FACE_MARGIN)  # the face, eroded
        self.register_buffer("face", face, persistent=False)
        self.register_buffer("inner_face", inner, persistent=False)
        # learned parts held at their start (no flow, gain 1 and offset 0, no fill): in training and inference by
        # ``model.fixed_parts``, or at inference only to measure what each is worth (bench/refiner_parts.py)
        self.switched_off = fixed_parts

    @property
    def switched_off(self) -> frozenset[str]:
        return self._switched_off

    @switched_off.setter
    def switched_off(self, parts) -> None:
        parts = frozenset(parts)
        if not parts <= set(LEARNED_PARTS):
            raise ValueError(f"model.fixed_parts / switched_off name no learned part {sorted(parts - set(LEARNED_PARTS))}; "
                             f"the refiner's parts: {', '.join(LEARNED_PARTS)}")
        self._switched_off = parts

    def forward(self, x: torch.Tensor, pose: torch.Tensor | None = None, inside: torch.Tensor | None = None
                ) -> list[torch.Tensor]:
        return self.parts(x, pose, inside)["outputs"]

    def refinement_weight(self, pose: torch.Tensor) -> torch.Tensor:
        """(B,) how much of the refiner's output each input gets: 0 near the front, 1 beyond ``front_blend[1]``."""
        if not self.front_blend or self.front_blend[0] == self.front_blend[1] == 0:
            return torch.ones(len(pose), device=pose.device)
        rot = pose[:, :9].view(-1, 3, 3)
        yaw = torch.rad2deg(torch.atan2(rot[:, 0, 2], rot[:, 2, 2])).abs()  # geometry/pose.py's Pose.angles
        lo, hi = self.front_blend
        t = ((yaw - lo) / max(hi - lo, 1e-6)).clamp(0, 1)
        return t * t * (3 - 2 * t)

    def parts(self, x: torch.Tensor, pose: torch.Tensor | None, inside: torch.Tensor | None = None) -> dict:
        """Every intermediate, by name (the sample grids and the tests look inside).  ``inside``: where each crop
        shows its photo (geometry/warp.py), None for crops that lie wholly inside theirs."""
        if pose is None:
            raise ValueError("model.geometry=refine needs the inputs' poses (landmarks in the manifest)")
        warped = self.warp(x, pose, inside)
        skips, h = [], torch.cat([warped.picture, warped.visible, x, self.face.expand(len(x), -1, -1, -1)], 1)
        for block in self.enc:
            h = block(h)
            skips.append(h)
        coarse = None
        for k, block in enumerate(self.dec):  # from S/8 up to S
            h = block(torch.cat([F.interpolate(h, scale_factor=2, mode="nearest"), skips[3 - k]], 1))
            if h.shape[-1] == self.size // 4:
                coarse = self.to_flow_shading(h)
        fill = self.to_fill(h)
        up = lambda t: F.interpolate(t, size=(self.size, self.size), mode="bilinear", align_corners=False)  # noqa: E731
        flow = FLOW_RANGE * torch.tanh(up(coarse[:, :2]))
        gain = torch.exp(GAIN_RANGE * torch.tanh(up(coarse[:, 2:5])))
        offset = 0.5 * torch.tanh(up(coarse[:, 5:8]))
        off = self.switched_off
        if "flow" in off:
            flow = torch.zeros_like(flow)
        if "shading" in off:
            gain, offset = torch.ones_like(gain), torch.zeros_like(offset)
        sampled = F.grid_sample(x, warped.grid + flow.permute(0, 2, 3, 1), mode="bilinear", padding_mode="border",
                                align_corners=False)
        corrected = self.warp.compose(sampled, warped.visible, warped.seen)[0]
        shaded = ((corrected + 1) / 2 * gain + offset) * 2 - 1
        mask = torch.sigmoid(fill[:, 3:] + MASK_PRIOR * self.inner_face)
        if "face fill" in off:
            mask = mask * (1 - self.inner_face)
        if "fill beyond" in off:
            mask = mask * self.inner_face
        out = mask * torch.tanh(fill[:, :3]) + (1 - mask) * shaded.clamp(-1, 1)
        if self.keep_background:  # beyond the head, wherever the warp shows the photo, the photo's own scene
            scene = (1 - self.face) * warped.known
            out = scene * corrected + (1 - scene) * out
        weight = self.refinement_weight(pose).view(-1, 1, 1, 1).to(out.dtype)
        out = weight * out + (1 - weight) * warped.picture
        return {"outputs": [F.avg_pool2d(out, 4), F.avg_pool2d(out, 2), out], "warped": warped.picture,
                "corrected": corrected, "shaded": shaded, "mask": mask, "flow": flow, "gain": gain, "offset": offset}
