"""The frontal warp: carry an input crop's own pixels (or a feature map of it) to the frontal template layout.

For a pose of the reference face in the input crop, every template pixel's 3D point projects to a place
in the input: that is the sampling grid (``grid_sample``, so gradients reach whatever produced the input).
Points of the face that the head itself hides from the input's camera (a z-buffer of the reference seen
from that camera) are filled from their mirror image across the face's vertical midline, through a soft
seam (Hassner et al.'s soft symmetry).  Batched, on any device, at any feature-map scale.

A crop cut from a photo can reach past the photo's edge (a tight face crop, a face near the border): those pixels
were never seen.  Given the crop's ``inside`` mask (1 where the crop shows the photo), a point whose source lies
outside is treated as hidden: its mirror fills it where the mirror was seen, and what neither side shows is filled
from the known pixels around it (``fill_unknown``), never from the crop's stretched border.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from frontalize.geometry.reference import FOCAL_CROPS, ReferenceFace, reference_face, skin_region

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


def fill_unknown(picture: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """``picture`` where ``known`` (B, 1, H, W, soft) is 1; elsewhere the known pixels spread smoothly inwards (a
    push-pull pyramid: known-weighted means at halving resolutions, each level filling the holes of the one above).
    Differentiable, and a no-op where everything is known."""
    if bool((known >= 1).all()):
        return picture
    levels = [(picture * known, known)]
    while min(levels[-1][1].shape[-2:]) > 1:
        p, k = levels[-1]
        levels.append((F.avg_pool2d(p, 2, ceil_mode=True), F.avg_pool2d(k, 2, ceil_mode=True)))
    p, k = levels[-1]
    filled = p / k.clamp_min(1e-6)
    for p, k in reversed(levels[:-1]):
        up = F.interpolate(filled, size=p.shape[-2:], mode="bilinear", align_corners=False)
        weight = k.clamp(0, 1)
        filled = p / k.clamp_min(1e-6) * weight + up * (1 - weight)
    return known * picture + (1 - known) * filled


@dataclass
class Warped:
    picture: torch.Tensor  # (B, C, S, S) the input in the frontal layout, hidden parts mirrored, unseen ones filled
    visible: torch.Tensor  # (B, 1, S, S) soft: 1 where the input shows the point, 0 where it is mirrored
    grid: torch.Tensor  # (B, S, S, 2) normalised sampling grid into the input (grid_sample's convention)
    seen: torch.Tensor  # (B, 1, S, S) hard visibility, before the seam is softened
    known: torch.Tensor  # (B, 1, S, S) soft: where the picture shows the input (itself or mirrored); the rest is filled


class FrontalWarp(nn.Module):
    """The reference face of one crop size, as buffers (they travel with a generator's checkpoint).

    ``reference``: the 3D face to warp with (default: the project's mean reference at ``size``; a subject's own head,
    geometry/oracle.py, measures what the mean shape costs).  ``background_occlusion``: hide what lies beyond the
    face where the face covers it in the input (``seen``); ``mirror``: fill hidden points from their mirror (else from
    around them, as what nothing shows); both off only to measure what they do (docs/real_faces.md).
    ``fill_from_skin``: what nothing shows is filled from the skin on the skin and from the hair and background on
    the scalp (geometry/reference.py ``skin_region``), not the whole head from the face; measured level, so off."""

    def __init__(self, size: int, reference: ReferenceFace | None = None, background_occlusion: bool = True,
                 mirror: bool = True, fill_from_skin: bool = False):
        super().__init__()
        self.background_occlusion = background_occlusion
        self.mirror = mirror
        ref = reference_face(size) if reference is None else reference
        if ref.size != size:
            raise ValueError(f"a {size} px warp needs a reference face of that size, got one of {ref.size} px")
        self.size = size
        self.register_buffer("points", torch.from_numpy(ref.points()).reshape(-1, 3))  # (S*S, 3) template frame
        self.register_buffer("face", torch.from_numpy(ref.face).reshape(-1))  # (S*S,) bool
        # the regions an unseen point is filled within (``compose``)
        fill_region = skin_region(ref) if fill_from_skin else ref.face
        self.register_buffer("fill_region", torch.from_numpy(fill_region).view(1, 1, size, size), persistent=False)
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
        """(B, S*S) bool: the points that face the input's camera and that no part of the face hides.

        Beyond the face (hair, ears, background: the reference's depth is only continued there) a point counts as
        unseen where it samples the input inside the face's own footprint: without that, the sides of a turned head
        sample the face and show it again beside the output's face (ghost faces)."""
        s = self.size
        col, row = uv[..., 0].round().long(), uv[..., 1].round().long()
        in_crop = (col >= 0) & (col < s) & (row >= 0) & (row < s)
        inside = in_crop & self.face
        cell = (row.clamp(0, s - 1) * s + col.clamp(0, s - 1))
        nearest = torch.full((uv.shape[0], s * s), float("inf"), device=uv.device, dtype=depth.dtype)
        nearest.scatter_reduce_(1, torch.where(inside, cell, 0), torch.where(inside, depth, torch.inf), "amin")
        front = depth <= nearest.gather(1, cell) + OCCLUSION_TOLERANCE * s
        # a surface turned away from the camera is hidden whatever the z-buffer says: where the near side is seen
        # at a grazing angle its points land sparsely, and far-side points would show through the gaps
        facing = (self.normals.to(rotation.dtype) @ rotation.transpose(1, 2))[..., 2] < 0
        face_seen = front & facing & inside
        if not self.background_occlusion:
            return face_seen | ~self.face
        # the face's footprint in the input: every cell a seen-or-not face point falls on or next to (its point
        # splatted to the four cells around it, which closes the gaps between sparse samples at grazing angles and
        # keeps the outline where it is when points land on cell centres).  Whatever a point beyond the face samples
        # there is the face: the depth continued beyond the face is no real surface, so whether it lies in front of
        # the face or behind, it is not what the input shows at that place
        footprint = torch.zeros_like(nearest)
        for u in (torch.floor(uv[..., 0] + 1e-3), torch.ceil(uv[..., 0] - 1e-3)):
            for v in (torch.floor(uv[..., 1] + 1e-3), torch.ceil(uv[..., 1] - 1e-3)):
                lands = inside & (u >= 0) & (u < s) & (v >= 0) & (v < s)
                footprint.scatter_add_(1, torch.where(lands, (v.clamp(0, s - 1) * s + u.clamp(0, s - 1)).long(), 0),
                                       lands.to(footprint.dtype))
        on_face = in_crop & (footprint.gather(1, cell) > 0)
        return face_seen | (~self.face & ~on_face)

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

    def forward(self, images: torch.Tensor, poses: torch.Tensor, inside: torch.Tensor | None = None) -> Warped:
        """Warp (B, C, S, S) images to the frontal layout; ``poses`` (B, 12) from geometry.pose.Pose.as_vector;
        ``inside`` (B, 1, S, S): where each crop shows its photo (None: the whole crop)."""
        grid, seen = self.grid(poses)
        if inside is None:
            inside = torch.ones(len(poses), 1, self.size, self.size, device=grid.device)
        # a sample from beyond the crop, or from a part of it beyond the photo's edge, shows nothing of the input
        # (not even in part: bilinear sampling at the edge would mix the stretched border in)
        source = (F.grid_sample(inside.to(grid.dtype), grid, mode="bilinear", padding_mode="zeros",
                                align_corners=False) > 0.99).to(seen.dtype)
        seen = seen * source
        sampled = F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="border", align_corners=False)
        # a soft seam on the face (Hassner's soft symmetry); beyond it a hidden point keeps nothing of its sample,
        # which is the face's own pixel there (``seen``)
        face = self.face.view(1, 1, self.size, self.size)
        visible = torch.where(face, self._soften(seen).clamp(0, 1), seen) * source
        picture, known = self.compose(sampled, visible, seen)
        return Warped(picture, visible, grid, seen, known)

    def compose(self, sampled: torch.Tensor, visible: torch.Tensor, seen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The frontal picture from the sampled input: seen points as sampled and hidden ones from their mirror,
        through the soft seam (``visible``), and what neither the point nor its mirror shows (``seen``: hard; a far
        side whose mirror is hidden too, what lay beyond the photo's edge) filled from the known pixels around it, the
        face from the face and the rest from the rest (a background filled from the face would put a skin-coloured
        halo round the head).  Returns the picture and where it is known."""
        if self.mirror:
            mirror_seen = mirror_about_midline(seen)
            # the seam's share goes to the mirror only where the mirror was seen, else it stays with the own sample
            other = mirror_seen * mirror_about_midline(sampled) + (1 - mirror_seen) * sampled
            picture = visible * sampled + (1 - visible) * other
            known = torch.maximum(seen, mirror_seen)
        else:
            picture, known = sampled, seen
        if bool((known >= 1).all()):
            return picture, known
        region = self.fill_region.to(picture.dtype)
        filled = region * fill_unknown(picture, known * region) + (1 - region) * fill_unknown(picture, known * (1 - region))
        return known * picture + (1 - known) * filled, known

    def features(self, maps: torch.Tensor, warped: Warped) -> torch.Tensor:
        """A feature map of the input (B, C, S/k, S/k) in the frontal layout, hidden points zeroed (FFWM-style)."""
        k = self.size // maps.shape[-1]
        grid = F.avg_pool2d(warped.grid.permute(0, 3, 1, 2), k).permute(0, 2, 3, 1) if k > 1 else warped.grid
        visible = F.avg_pool2d(warped.visible, k) if k > 1 else warped.visible
        sampled = F.grid_sample(maps, grid.to(maps.dtype), mode="bilinear", padding_mode="border", align_corners=False)
        return sampled * visible.to(maps.dtype)
