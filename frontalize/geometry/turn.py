"""Turn the head of a frontal face crop to another camera yaw with the reference head: new views of one photograph.

A camera that orbits a head by a yaw sees the head turned.  For a crop whose head pose is known (the five-point fit,
pose.py), each pixel of the turned view shows the first point of the reference head its ray meets (ray casting); that
point has a place in the crop (its projection in the crop's pose), and the crop is sampled there (bilinear).  This is
the inverse of the frontal warp (warp.py), which carries a turned crop to the frontal layout.

The head as a solid.  The reference (reference.py) is a depth map of the head's front as a frontal camera sees it: a
height field.  Turned by a few degrees it is enough (``reference.turned``); turned to a profile it would show its
edges and nothing behind them.  So the solid is the front surface closed behind by its own mirror image about the
depth of the head's outline (``BACK_PERCENTILE`` of the outline's depths), which gives a turned head a head's outline
without inventing what it shows: a frontal photograph never shows the back of a head.

What the crop does not show is unknown, and marked so (``TurnedView.unknown``):
  - a point of the head that the crop does not show (turned away from its camera or hidden by the face, as
    ``FrontalWarp.seen`` decides; the back and the walls of the solid; beyond the photo's edge): filled from the
    known pixels of the head around it (``fill_unknown``);
  - the background the crop's head hid (the camera orbits the head and the scene keeps the crop's: no parallax is
    modelled), and what lay beyond the photo's edge: filled from the crop's own background around it.
The view at yaw 0 is the crop itself, untouched: the real photograph.

Landmarks turn with the head: a crop's five measured points (a detector's) are the reference's landmarks moved across
the line of sight to where they were measured (``FrontalCrop.landmarks3d``), the 68 iBUG points are the reference's,
all seen in the view's pose.  A landmark is visible where no part of the head lies in front of it on its ray.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch.nn import functional as F

from frontalize.geometry.pose import Pose, camera_rotation, project
from frontalize.geometry.reference import FOCAL_CROPS, ReferenceFace, on_rays, reference_face
from frontalize.geometry.warp import FrontalWarp, fill_unknown

BACK_PERCENTILE = 90  # the head's depth centre: this percentile of the depths along the face's outline (its widest)
MARCH_STEPS = 160  # samples along each ray across the head's bounding box, before bisection
BISECTIONS = 10  # halvings of the step that found the head: the hit lands within 1/1000 of a step
FRONT_TOLERANCE = 0.01  # of the crop size: a hit this close to the front surface entered through it
LANDMARK_TOLERANCE = 0.02  # of the crop size: how far in front of a visible landmark its ray may meet the head


@dataclass(frozen=True)
class HeadSolid:
    """The reference head closed behind: between ``front`` and ``back`` depths (template frame) where ``face``."""

    reference: ReferenceFace
    back: np.ndarray  # (S, S) float32: the depth of the head's back surface behind each template pixel

    @classmethod
    def of(cls, reference: ReferenceFace) -> "HeadSolid":
        face = reference.face
        # the outline: face pixels with a non-face neighbour (4-connectivity)
        padded = np.pad(face, 1)
        inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        outline = face & ~inner
        centre = float(np.percentile(reference.depth[outline], BACK_PERCENTILE))
        # mirrored about the centre; where the front lies behind the centre the head has no depth there
        back = np.maximum(2 * centre - reference.depth, reference.depth)
        return cls(reference, back.astype(np.float32))

    @property
    def size(self) -> int:
        return self.reference.size

    @cached_property
    def maps(self) -> torch.Tensor:
        """(1, 3, S, S): front depth, back depth, face coverage, for bilinear lookups."""
        ref = self.reference
        return torch.from_numpy(np.stack([ref.depth, self.back, ref.face.astype(np.float32)]))[None]

    @cached_property
    def bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The solid's bounding box in the template frame (a little enlarged)."""
        ref = self.reference
        v, u = np.mgrid[0 : self.size, 0 : self.size].astype(np.float32) - self.size / 2
        back = on_rays(np.stack([u, v, self.back], axis=-1), self.size)
        points = np.concatenate([ref.points()[ref.face], back[ref.face]])
        margin = 0.02 * self.size
        return torch.tensor(points.min(0) - margin), torch.tensor(points.max(0) + margin)


@dataclass
class Hits:
    points: torch.Tensor  # (M, 3) template frame: where each ray enters the head (undefined where it misses)
    hit: torch.Tensor  # (M,) bool: the ray meets the head
    front: torch.Tensor  # (M,) bool: it enters through the front surface (a point of the reference face)
    template: torch.Tensor  # (M, 2) the entry's template pixel (x, y): the reference point it is


def _lookup(solid: HeadSolid, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Template pixel (M, 2) of template-frame points (M, 3), and the solid's front, back and face there (3, M)."""
    s, f = solid.size, FOCAL_CROPS * solid.size
    pixel = points[:, :2] * (f / (f + points[:, 2:])) + s / 2
    grid = ((2 * pixel + 1) / s - 1).view(1, 1, -1, 2)
    maps = F.grid_sample(solid.maps, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0]
    inside_crop = ((pixel >= -0.5) & (pixel <= s - 0.5)).all(1)
    maps[2] = maps[2] * inside_crop  # nothing of the head lies beyond the template crop
    return pixel, maps


def _inside(solid: HeadSolid, points: torch.Tensor) -> torch.Tensor:
    _, (front, back, face) = _lookup(solid, points)
    z = points[:, 2]
    return (face >= 0.5) & (z >= front) & (z <= back)


def cast(solid: HeadSolid, pose: Pose, pixels: torch.Tensor) -> Hits:
    """Where the rays of a crop camera through ``pixels`` (M, 2: x, y, pixel centres at integers) enter the head seen
    in ``pose``: marched across the head's bounding box, the first step inside refined by bisection."""
    s, f = solid.size, FOCAL_CROPS * solid.size
    rot = torch.as_tensor(pose.rotation, dtype=torch.float32)
    trans = torch.as_tensor(pose.translation, dtype=torch.float32)
    pixels = pixels.to(torch.float32)
    rays = torch.cat([(pixels - s / 2) / f, torch.ones(len(pixels), 1)], 1)  # camera frame, z = 1
    # the template frame: X = R^T (camera - t), so a ray from the camera centre is origin + depth * direction
    origin = -trans @ rot
    direction = rays @ rot
    near, far = _slab(origin, direction, *solid.bounds)
    step = (far - near) / MARCH_STEPS
    entry = torch.full_like(near, float("inf"))
    active = torch.nonzero(far > near)[:, 0]  # rays that cross the box and have not met the head yet
    for k in range(MARCH_STEPS + 1):
        if not len(active):
            break
        depth = near[active] + k * step[active]
        inside = _inside(solid, origin + depth[:, None] * direction[active])
        entry[active[inside]] = depth[inside]
        active = active[~inside]
    hit = torch.isfinite(entry)
    # bisection between the last step outside and the first inside
    lo = torch.where(hit, entry - step, near)
    hi = torch.where(hit, entry, near)
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        inside = _inside(solid, origin + mid[:, None] * direction)
        hi = torch.where(inside, mid, hi)
        lo = torch.where(inside, lo, mid)
    points = origin + hi[:, None] * direction
    template, (front_depth, _, _) = _lookup(solid, points)
    front = hit & (points[:, 2] - front_depth <= FRONT_TOLERANCE * s)
    return Hits(points, hit, front, template)


def _slab(origin: torch.Tensor, direction: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor):
    """Entry and exit ray parameters of an axis-aligned box (exit <= entry: the ray misses it)."""
    safe = torch.where(direction.abs() < 1e-12, torch.full_like(direction, 1e-12), direction)
    a, b = (lo - origin) / safe, (hi - origin) / safe
    near = torch.minimum(a, b).amax(1).clamp_min(0)
    far = torch.maximum(a, b).amin(1)
    return near, far


def view_pose(photo: Pose, yaw: float) -> Pose:
    """The head of a crop in ``photo``'s pose, as the camera at ``yaw`` (Multi-PIE's table and sign, at head height)
    sees it: the camera orbits the head about the crop camera's vertical through the head's origin, at the same
    distance, so the head stays where the crop shows it and only turns."""
    return Pose(camera_rotation(yaw) @ photo.rotation, np.asarray(photo.translation, np.float64))


@dataclass
class TurnedView:
    yaw: float
    picture: np.ndarray  # (S, S, 3) uint8
    unknown: np.ndarray  # (S, S) bool: pixels the crop did not show (filled)
    head: np.ndarray  # (S, S) bool: pixels that show the head
    pose: Pose  # the head's pose in this view (crop camera)
    five: np.ndarray  # (5, 2) MTCNN order, pixel centres at integers
    five_visible: np.ndarray  # (5,) bool
    ibug68: np.ndarray  # (68, 2)
    ibug68_visible: np.ndarray  # (68,) bool


class FrontalCrop:
    """A template-aligned crop of a frontal photograph, ready to be turned.

    ``crop``: (S, S, 3) uint8; ``inside``: (S, S) float, 1 where the crop shows the photo (0 beyond its edge);
    ``pose``: the reference face's pose in the crop; ``five``: the measured landmarks in the crop (MTCNN order)."""

    def __init__(self, crop: np.ndarray, inside: np.ndarray, pose: Pose, five: np.ndarray,
                 reference: ReferenceFace | None = None):
        self.size = crop.shape[0]
        self.crop, self.pose, self.measured_five = crop, pose, np.asarray(five, np.float64)
        self.reference = reference_face(self.size) if reference is None else reference
        self.solid = HeadSolid.of(self.reference)
        self.image = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float()[None] / 255
        self.inside = torch.from_numpy(np.asarray(inside, np.float32))[None, None]
        s = self.size
        y, x = torch.meshgrid(torch.arange(s, dtype=torch.float32), torch.arange(s, dtype=torch.float32), indexing="ij")
        self.pixels = torch.stack([x.reshape(-1), y.reshape(-1)], 1)

    @cached_property
    def seen(self) -> torch.Tensor:
        """(S, S) bool per template pixel: the crop shows that point of the reference face (``FrontalWarp.seen``: it
        faces the crop's camera and no part of the face hides it), and the photo's edge does not cut it off."""
        warp = FrontalWarp(self.size, self.reference)
        grid, seen = warp.grid(torch.from_numpy(self.pose.as_vector())[None])
        source = F.grid_sample(self.inside, grid, mode="bilinear", padding_mode="zeros", align_corners=False) > 0.99
        face = torch.from_numpy(self.reference.face)
        return (seen[0, 0] > 0) & source[0, 0] & face

    @cached_property
    def footprint(self) -> torch.Tensor:
        """(S, S) bool: where the crop shows the head (its rays meet the reference head)."""
        return cast(self.solid, self.pose, self.pixels).hit.view(self.size, self.size)

    @cached_property
    def background(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The crop's own scene without the head: (1, 3, S, S) in [0, 1], the head and what lies beyond the photo's
        edge filled from the scene around them; and where it is the crop's own pixels (S, S) bool."""
        known = ~self.footprint & (self.inside[0, 0] > 0.99)
        return fill_unknown(self.image, known[None, None].float()), known

    @cached_property
    def landmarks3d(self) -> tuple[np.ndarray, np.ndarray]:
        """The five measured landmarks in 3D (template frame), and the reference's 68.

        A measured point is put on its own ray in the crop at the depth of the reference's landmark: the person's
        landmark is the mean head's, moved across the line of sight to where the detector saw it.  So it lands exactly
        on the measured point in the crop and turns with the head as the landmark does.  (Put on the surface its ray
        meets instead, a nose tip seen a few pixels below the mean head's would become a point of the upper lip, and
        would not turn as a nose tip turns.)"""
        ref = self.reference
        rot, trans = self.pose.rotation, self.pose.translation
        depth = (ref.five @ rot.T + trans)[:, 2:]  # camera depth of the reference's landmarks in the crop's pose
        f = FOCAL_CROPS * self.size
        rays = np.concatenate([(self.measured_five - self.size / 2) / f, np.ones((5, 1))], axis=1)
        measured = (rays * depth - trans) @ rot  # back to the template frame: R^T (camera - t)
        return measured, ref.ibug68.astype(np.float64)

    def view(self, yaw: float) -> TurnedView:
        """The crop's head turned as the camera at ``yaw`` would see it (0: the crop itself)."""
        pose = view_pose(self.pose, yaw)
        if yaw == 0:
            picture = self.crop.copy()
            unknown = self.inside[0, 0].numpy() < 0.99
            head = self.footprint.numpy()
        else:
            picture, unknown, head = self._render(pose)
        five, five_visible = self._landmarks(self.landmarks3d[0], pose)
        ibug, ibug_visible = self._landmarks(self.landmarks3d[1], pose)
        return TurnedView(float(yaw), picture, unknown, head, pose, five, five_visible, ibug, ibug_visible)

    def _render(self, pose: Pose) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.size
        hits = cast(self.solid, pose, self.pixels)
        # where each head point lies in the crop: sample it there
        uv = project(hits.points.double().numpy(), self.pose, s)
        grid = torch.from_numpy((2 * uv + 1) / s - 1).float().view(1, s, s, 2)
        sampled = F.grid_sample(self.image, grid, mode="bilinear", padding_mode="border", align_corners=False)
        in_photo = F.grid_sample(self.inside, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        in_photo = in_photo[0, 0] > 0.99  # not from beyond the photo's edge, not even in part
        col, row = hits.template.round().long().clamp(0, s - 1).unbind(1)
        seen = (hits.front & self.seen[row, col]).view(s, s) & in_photo
        head = hits.hit.view(s, s)
        # unseen head points from the seen head around them, never from the background
        head_picture = fill_unknown(sampled * head, seen[None, None].float())
        background, scene_known = self.background
        picture = torch.where(head, head_picture, background)
        unknown = torch.where(head, ~seen, ~scene_known)
        rgb = (picture[0].permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
        return rgb, unknown.numpy(), head.numpy()

    def _landmarks(self, points: np.ndarray, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
        """Points (template frame) in a view, and whether each is visible: in the frame, and no part of the head lies in
        front of it on its ray (the first point its ray meets is not nearer the camera)."""
        s = self.size
        xy = project(points, pose, s)
        hits = cast(self.solid, pose, torch.from_numpy(xy))
        own = (points @ pose.rotation.T + pose.translation)[:, 2]
        first = (hits.points.double().numpy() @ pose.rotation.T + pose.translation)[:, 2]
        unhidden = ~hits.hit.numpy() | (first >= own - LANDMARK_TOLERANCE * s)
        in_frame = np.all((xy >= -0.5) & (xy <= s - 0.5), axis=1)
        return xy, unhidden & in_frame
