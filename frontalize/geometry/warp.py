"""The frontal warp: carry an input crop's own pixels (or a feature map of it) to the frontal template layout.

For a pose of the reference face in the input crop, every template pixel's 3D point projects to a place
in the input: that is the sampling grid (``grid_sample``, so gradients reach whatever produced the input).
Points of the face that the head itself hides from the input's camera (a z-buffer of the reference seen
from that camera) are filled from their mirror image across the face's vertical midline, through a soft
seam (Hassner et al.'s soft symmetry).  Batched, on any device, at any feature-map scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from frontalize.geometry.reference import FOCAL_CROPS, ReferenceFace, reference_face

OCCLUSION_TOLERANCE = 0.02  # of the crop size: how far behind the nearest surface a point still counts as seen
SEAM = 1 / 48  # of the crop size: the standard deviation of the soft seam between seen and mirrored pixels


def mirror_about_midline(images: torch.Tensor) -> torch.Tensor:
    """The mirror image across the template's vertical midline, x -> S - x (pixel centres at integers).

    The template puts the face's midline at x = S/2 (data/template.py), not at the image's centre (S - 1)/2 that
    ``torch.flip`` mirrors about: flipping alone moves every mirrored pixel one pixel sideways.  Column 0, whose
    mirror S lies outside the crop, repeats column S - 1.
    """
    flipped = torch.flip(images, dims=[-1])
    return torch.cat([flipped[..., :1], flipped[..., :-1]], dim=-1)


@dataclass
class Warped:
    picture: torch.Tensor  # (B, C, S, S) the input in the frontal layout, hidden parts mirrored
    visible: torch.Tensor  # (B, 1, S, S) soft: 1 where the input shows the point, 0 where it is mirrored
    grid: torch.Tensor  # (B, S, S, 2) normalised sampling grid into the input (grid_sample's convention)
    seen: torch.Tensor  # (B, 1, S, S) hard visibility, before the seam is softened


class FrontalWarp(nn.Module):
    """The reference face of one crop size, as buffers (they travel with a generator's checkpoint).

    ``reference``: the 3D face to warp with (default: the project's mean reference at ``size``; a subject's own head,
    geometry/oracle.py, measures what the mean shape costs)."""

    def __init__(self, size: int, reference: ReferenceFace | None = None):
        super().__init__()
        ref = reference_face(size) if reference is None else reference
        if ref.size != size:
            raise ValueError(f"a {size} px warp needs a reference face of that size, got one of {ref.size} px")
        self.size = size
        self.register_buffer("points", torch.from_numpy(ref.points()).reshape(-1, 3))  # (S*S, 3) template frame
        self.register_buffer("face", torch.from_numpy(ref.face).reshape(-1))  # (S*S,) bool
        self.register_buffer("normals", torch.from_numpy(ref.normals()).reshape(-1, 3))  # (S*S, 3) towards the viewer
        sigma = SEAM * size
        radius = max(1, int(round(3 * sigma)))
        x = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel = torch.exp(-0.5 * (x / sigma) ** 2)
        self.register_buffer("seam_kernel", (kernel / kernel.sum()).view(1, 1, 1, -1), persistent=False)

    def project(self, poses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input-crop pixel coordinates (B, S*S, 2) and camera depth (B, S*S) of every template pixel's point."""
        rot, trans = poses[:, :9].view(-1, 3, 3), poses[:, 9:12]
        cam = self.points.to(poses.dtype) @ rot.transpose(1, 2) + trans[:, None, :]
        uv = cam[..., :2] / cam[..., 2:] * (FOCAL_CROPS * self.size) + self.size / 2
        return uv, cam[..., 2]

    @torch.no_grad()
    def seen(self, uv: torch.Tensor, depth: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
        """(B, S*S) bool: the face's points that face the input's camera and that no other part of the face hides."""
        s = self.size
        col, row = uv[..., 0].round().long(), uv[..., 1].round().long()
        inside = (col >= 0) & (col < s) & (row >= 0) & (row < s) & self.face
        cell = (row.clamp(0, s - 1) * s + col.clamp(0, s - 1))
        nearest = torch.full((uv.shape[0], s * s), float("inf"), device=uv.device, dtype=depth.dtype)
        nearest.scatter_reduce_(1, torch.where(inside, cell, 0), torch.where(inside, depth, torch.inf), "amin")
        front = depth <= nearest.gather(1, cell) + OCCLUSION_TOLERANCE * s
        # a surface turned away from the camera is hidden whatever the z-buffer says: where the near side is seen
        # at a grazing angle its points land sparsely, and far-side points would show through the gaps
        facing = (self.normals.to(rotation.dtype) @ rotation.transpose(1, 2))[..., 2] < 0
        return (front & facing & inside) | ~self.face  # outside the face nothing is mirrored

    def _soften(self, mask: torch.Tensor) -> torch.Tensor:
        k = self.seam_kernel
        pad = k.shape[-1] // 2
        mask = F.conv2d(F.pad(mask, (pad, pad, 0, 0), mode="replicate"), k)
        return F.conv2d(F.pad(mask, (0, 0, pad, pad), mode="replicate"), k.transpose(2, 3))

    def grid(self, poses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The normalised sampling grid (B, S, S, 2) and the hard visibility (B, 1, S, S)."""
        poses = poses.float()
        uv, depth = self.project(poses)
        seen = self.seen(uv, depth, poses[:, :9].view(-1, 3, 3))
        s = self.size
        grid = ((2 * uv + 1) / s - 1).view(-1, s, s, 2)
        return grid, seen.view(-1, 1, s, s).float()

    def forward(self, images: torch.Tensor, poses: torch.Tensor) -> Warped:
        """Warp (B, C, S, S) images to the frontal layout; ``poses`` (B, 12) from geometry.pose.Pose.as_vector."""
        grid, seen = self.grid(poses)
        sampled = F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="border", align_corners=False)
        visible = self._soften(seen).clamp(0, 1)
        mirrored = mirror_about_midline(sampled)
        picture = visible * sampled + (1 - visible) * mirrored
        return Warped(picture, visible, grid, seen)

    def features(self, maps: torch.Tensor, warped: Warped) -> torch.Tensor:
        """A feature map of the input (B, C, S/k, S/k) in the frontal layout, hidden points zeroed (FFWM-style)."""
        k = self.size // maps.shape[-1]
        grid = F.avg_pool2d(warped.grid.permute(0, 3, 1, 2), k).permute(0, 2, 3, 1) if k > 1 else warped.grid
        visible = F.avg_pool2d(warped.visible, k) if k > 1 else warped.visible
        sampled = F.grid_sample(maps, grid.to(maps.dtype), mode="bilinear", padding_mode="border", align_corners=False)
        return sampled * visible.to(maps.dtype)
