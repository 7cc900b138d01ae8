"""A small software renderer for SynthPIE: dense surface points, a z-buffer, shading per point.

The head surface is sampled on a (theta, phi) grid at about one sample per
pixel.  Where the surface is steep (ear rims, a bun, the lower edge of long
hair) grid neighbours lie far apart, so points are added between them:
splatting the points into a z-buffer then leaves no holes and gives true
self-occlusion.

The work is split by what it depends on: geometry and appearance per subject
and expression (``Scene``); per recording, the head pose and, for every shot,
each point's colour under room light and that shot's flash with its cast
shadows (``PosedScene``: none of it depends on the camera); per camera, which
points it sees and the view-dependent highlights, splatted into one colour
image per shot, with the surface's albedo, normal and material beside them
(``View``).  What a photograph adds per image (background, clothing, the
room's light, the camera) is photo.py's, from those planes.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import cv2
import numpy as np

from frontalize.synthpie.head import Head, surface_points

# The body wears a white shirt: the photograph dyes it and prints its pattern per image (photo.py), so clothing
# carries no identity and costs no render per colour
SHIRT_ALBEDO = 1.0
SHIRT_GLOSS = 0.15
# per-point surface channels splatted beside the shots' colours: albedo (3), normal (3), bare skin, cloth
SURFACE_CHANNELS = 8
MAX_INSERTED = 12  # points added between two grid neighbours at most
SEE_THROUGH = 0.15  # head units: a point this far behind a neighbouring pixel's surface is hidden by it


@dataclass
class Scene:
    """Everything about one subject with one expression that no camera or light changes."""

    points: np.ndarray  # (N, 3) head frame
    normals: np.ndarray  # (N, 3) unit, outward
    albedo: np.ndarray  # (N, 3) in [0, 1]
    gloss: np.ndarray  # (N,) strength of the specular highlight
    skin: np.ndarray  # (N,) how much of the point is bare skin (face, ears, neck), not hair or cloth
    cloth: np.ndarray  # (N,) 1 on the shirt
    landmarks: np.ndarray  # (68, 3)
    landmark_normals: np.ndarray
    irises: np.ndarray  # (2, 3)


def _grid_normals(pts: np.ndarray) -> np.ndarray:
    """Outward normals of a (phi, theta, 3) grid of surface points."""
    d_phi = np.gradient(pts, axis=0)
    d_th = np.gradient(pts, axis=1)
    n = np.cross(d_th, d_phi)
    n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-12
    # orient outwards (the surface is star-shaped around the origin)
    flip = np.sum(n * pts, axis=-1, keepdims=True) < 0
    return np.where(flip, -n, n)


def _point_normals(head: Head, th: np.ndarray, ph: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    d_th = surface_points(head, th + eps, ph) - surface_points(head, th - eps, ph)
    d_ph = surface_points(head, th, ph + eps) - surface_points(head, th, ph - eps)
    n = np.cross(d_th, d_ph)
    return n / (np.linalg.norm(n, axis=-1, keepdims=True) + 1e-12)


def _densify(grid: np.ndarray, spacing: float) -> np.ndarray:
    """Rows to add to a (phi, theta, C) grid: positions (3), normals (3), then appearance (albedo, gloss, skin).

    Between every two grid neighbours further apart than ``spacing`` (in 3D),
    evenly spaced points are added.  Position and normal are interpolated; the
    appearance is the outer neighbour's: a steep step is the side of whatever
    stands out (a lock of hair, an ear's rim), not a blend of it with the skin.
    """
    extra = []
    for a, b in ((grid[:-1], grid[1:]), (grid[:, :-1], grid[:, 1:])):
        a, b = a.reshape(-1, grid.shape[-1]), b.reshape(-1, grid.shape[-1])
        gap = np.linalg.norm(b[:, :3] - a[:, :3], axis=1)
        count = np.minimum(np.ceil(gap / spacing) - 1, MAX_INSERTED).astype(np.int64)
        edges = np.flatnonzero(count > 0)
        n = count[edges]
        rep = np.repeat(edges, n)
        step = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)  # 0 .. n-1 along each edge
        t = ((step + 1) / np.repeat(n + 1, n))[:, None].astype(grid.dtype)
        a_, b_ = a[rep], b[rep]
        points = a_ + t * (b_ - a_)
        outer = (np.sum(b_[:, :3] ** 2, axis=1) > np.sum(a_[:, :3] ** 2, axis=1))[:, None]
        points[:, 6:] = np.where(outer, b_[:, 6:], a_[:, 6:])
        extra.append(points)
    return np.concatenate(extra)


@lru_cache(maxsize=4)
def _body(spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neck and shoulders sampled at ``spacing``: points, normals, and which points are skin (the neck).

    Only what some camera can show: nothing below the loosest framing's frame
    at head height (y < -2.9, studio.FRAMING_SCALE; the raised cameras, looking
    down, see the torso end there).  The same for every subject.
    """
    parts = []
    # neck: an elliptic cylinder
    a = np.arange(-np.pi, np.pi, spacing / 0.5)
    A, Y = np.meshgrid(a, np.arange(-1.9, -0.45, spacing))
    p = np.stack([0.48 * np.sin(A), Y, 0.50 * np.cos(A) - 0.2], -1).reshape(-1, 3)
    n = np.stack([np.sin(A) / 0.48, 0 * A, np.cos(A) / 0.50], -1).reshape(-1, 3)
    parts.append((p, n, np.ones(len(p), bool)))
    # torso sides, all round (a profile camera sees the back), evenly spaced along the elliptic section
    fine = np.linspace(-np.pi, np.pi, 4097)
    speed = np.hypot(1.9 * np.cos(fine), 0.9 * np.sin(fine))
    arc = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(fine))])
    a = np.interp(np.arange(0.0, arc[-1], spacing), arc, fine)
    A, Y = np.meshgrid(a, np.arange(-2.9, -1.6, spacing))
    p = np.stack([1.9 * np.sin(A), Y, 0.9 * np.cos(A) - 0.3], -1).reshape(-1, 3)
    n = np.stack([np.sin(A) / 1.9, 0 * A, np.cos(A) / 0.9], -1).reshape(-1, 3)
    parts.append((p, n, np.zeros(len(p), bool)))
    # shoulders: the top of the torso, sloping down from the neck, sampled evenly in x-z
    X, Z = np.meshgrid(np.arange(-1.9, 1.9, spacing), np.arange(-1.2, 0.6, spacing))
    R = np.sqrt((X / 1.9) ** 2 + ((Z + 0.3) / 0.9) ** 2)
    keep = (R <= 1.0) & (((X / 0.48) ** 2 + ((Z + 0.2) / 0.5) ** 2) > 1.0)
    X, Z, R = X[keep], Z[keep], R[keep]
    p = np.stack([X, -1.6 + 0.35 * (1 - R), Z], -1)
    n = np.stack([0.35 * X / (1.9**2 * R + 1e-6), np.ones_like(X), 0.35 * (Z + 0.3) / (0.81 * R + 1e-6)], -1)
    parts.append((p, n, np.zeros(len(p), bool)))
    pts = np.concatenate([q[0] for q in parts]).astype(np.float32)
    nrm = np.concatenate([q[1] for q in parts])
    nrm = (nrm / np.linalg.norm(nrm, axis=1, keepdims=True)).astype(np.float32)
    return pts, nrm, np.concatenate([q[2] for q in parts])


def build_scene(head: Head, n_phi: int) -> Scene:
    """Sample the head on an n_phi x 1.4 n_phi grid (about one sample per pixel), add the body in a white shirt.

    Fewer columns than twice the rows: a camera sees half the azimuths across the
    head's width, but half the elevations over its taller, longer profile.
    """
    n_th = int(1.4 * n_phi)
    ph = np.linspace(-np.pi / 2 + 0.02, np.pi / 2 - 0.02, n_phi)
    th = np.linspace(-np.pi, np.pi, n_th, endpoint=False)
    TH, PH = np.meshgrid(th, ph)
    pts = surface_points(head, TH, PH)
    nrm = _grid_normals(pts)
    albedo, gloss, skin = head.appearance(TH, PH)
    grid = np.concatenate([pts, nrm, albedo, gloss[..., None], skin[..., None]], axis=-1).astype(np.float32)
    spacing = 1.5 * 2 * np.pi / n_th  # a little over the grid's coarser pitch on the unit sphere
    head_pts = np.concatenate([grid.reshape(-1, grid.shape[-1]), _densify(grid, spacing)])
    head_pts[:, 3:6] /= np.linalg.norm(head_pts[:, 3:6], axis=1, keepdims=True) + 1e-12
    body_p, body_n, is_neck = _body(3.0 / n_phi)  # about the head's spacing
    skin = np.asarray(head.p.skin, np.float32)
    body_albedo = np.where(is_neck[:, None], skin * np.float32(0.93), np.float32(SHIRT_ALBEDO))
    body_gloss = np.where(is_neck, np.float32(1.0), np.float32(SHIRT_GLOSS))
    body_skin = is_neck.astype(np.float32)
    lt, lp = head.landmark_angles()
    it, ip = head.iris_angles()
    return Scene(
        points=np.concatenate([head_pts[:, :3], body_p]),
        normals=np.concatenate([head_pts[:, 3:6], body_n]),
        albedo=np.concatenate([head_pts[:, 6:9], body_albedo]),
        gloss=np.concatenate([head_pts[:, 9], body_gloss]),
        skin=np.concatenate([head_pts[:, 10], body_skin]),
        cloth=np.concatenate([np.zeros(len(head_pts), np.float32), 1 - body_skin]),
        landmarks=surface_points(head, lt, lp),
        landmark_normals=_point_normals(head, lt, lp),
        irises=surface_points(head, it, ip),
    )


def rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Head rotation: roll about z, then pitch about x, then yaw about y."""
    y, p, r = np.deg2rad([yaw_deg, pitch_deg, roll_deg])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def direction(yaw_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit vector from the subject towards a camera or flash at this yaw and elevation."""
    y, e = np.deg2rad([yaw_deg, elevation_deg])
    return np.array([np.sin(y) * np.cos(e), np.sin(e), np.cos(y) * np.cos(e)])


@dataclass(frozen=True)
class CameraModel:
    yaw: float
    elevation: float
    distance: float
    focal_px: float
    width: int
    height: int
    look_at: tuple = (0.0, -0.25, 0.0)
    principal: tuple = (0.0, 0.0)  # the optical axis's offset from the image centre, pixels (x right, y down)

    def basis(self):
        centre = np.asarray(self.look_at) + self.distance * direction(self.yaw, self.elevation)
        fwd = np.asarray(self.look_at) - centre
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, fwd)
        return centre, fwd, right, up

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (x right, y down) and depth along the optical axis."""
        centre, fwd, right, up = (v.astype(np.float32) for v in self.basis())
        rel = pts - centre
        depth = rel @ fwd
        x = self.focal_px * (rel @ right) / depth + (self.width / 2 + self.principal[0])
        y = -self.focal_px * (rel @ up) / depth + (self.height / 2 + self.principal[1])
        return np.stack([x, y], -1), depth

    def to_camera(self) -> np.ndarray:
        """Unit vector from the subject towards the camera.

        The same for every pixel: the camera stands 12 head units away, so the
        view direction varies by a few degrees across the head, which no
        highlight shows.
        """
        return (-self.basis()[1]).astype(np.float32)


@dataclass
class PosedScene:
    """A scene in world coordinates for one recording's head pose, lit by each of its shots' flashes.

    Everything that does not depend on the camera is computed here once: the
    diffuse colour of every point under each shot (room light plus the flash,
    with its cast shadows), the weight of its specular highlight, and the
    surface channels a photograph's own light and clothing need (photo.py).
    """

    points: np.ndarray
    normals: np.ndarray
    n_dot_p: np.ndarray  # normals . points: back-face culling becomes one matrix-vector product
    flashes: list  # per shot: unit direction towards the flash, or None (room light only)
    # (3 * shots + SURFACE_CHANNELS, N), channel-major: colour of each point in each shot, before highlights, then
    # its albedo, normal, skin and cloth.  A camera gathers the points it sees as long contiguous rows
    channels: np.ndarray
    highlight: np.ndarray  # (shots, N) weight of the specular highlight (gloss, lit, facing the flash)
    landmarks: np.ndarray
    landmark_normals: np.ndarray
    irises: np.ndarray
    iris_normals: np.ndarray


def _zbuffer(pix: np.ndarray, depth: np.ndarray, size: int) -> np.ndarray:
    zbuf = np.full(size, np.inf, depth.dtype)  # same dtype: ufunc.at takes its fast path
    np.minimum.at(zbuf, pix, depth)
    return zbuf


def shadow_mask(points: np.ndarray, normals: np.ndarray, light: np.ndarray, cell: float = 0.015) -> np.ndarray:
    """True where a point is lit by a directional light (no other surface in front of it).

    The depth tolerance grows with the slope of the surface towards the light:
    a fixed one either lets shadows leak or speckles grazing surfaces ("acne").
    """
    light = light.astype(np.float32)
    helper = np.array([0.0, 1.0, 0.0]) if abs(light[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    a = np.cross(light, helper).astype(np.float32)
    a /= np.linalg.norm(a)
    b = np.cross(light, a)
    ia = np.floor(points @ a / cell).astype(np.int64)
    ib = np.floor(points @ b / cell).astype(np.int64)
    ia -= ia.min()
    ib -= ib.min()
    key = ib * (ia.max() + 1) + ia
    depth = -(points @ light)
    zbuf = _zbuffer(key, depth, int(key.max()) + 1)
    cos = np.clip(normals @ light, 0.05, 1.0)
    tol = 0.02 + 1.5 * cell * np.minimum(np.sqrt(1 - cos**2) / cos, 4.0)
    return depth <= zbuf[key] + tol


def room_light(normal_y: np.ndarray, normal_z: np.ndarray) -> np.ndarray:
    """The room's light on a surface, a factor of its albedo: a soft dome from above and in front (world frame)."""
    return 0.30 + 0.16 * normal_y + 0.10 * np.clip(normal_z, 0, 1)


def pose(scene: Scene, head_rot: np.ndarray, head_shift: np.ndarray, flashes: list) -> PosedScene:
    """Place the scene in the studio and light it for each shot (a flash direction, or None for room light only)."""
    rot, shift = head_rot.astype(np.float32), head_shift.astype(np.float32)
    pts = scene.points @ rot.T + shift
    nrm = scene.normals @ rot.T
    # room light: a soft dome from above, present in every shot as in the Multi-PIE studio
    room = scene.albedo * room_light(nrm[:, 1:2], nrm[:, 2:3])
    diffuse, highlight = [], []
    for d in flashes:
        if d is None:
            diffuse.append(room)
            highlight.append(np.zeros(len(pts), np.float32))
            continue
        d = d.astype(np.float32)
        ndl = np.clip(nrm @ d, 0, None) * shadow_mask(pts, nrm, d)
        diffuse.append(room + scene.albedo * (0.72 * ndl)[:, None])
        highlight.append(scene.gloss * np.float32(0.12) * (ndl > 0))
    irises = scene.irises @ rot.T + shift
    surface = [scene.albedo, nrm, scene.skin[:, None], scene.cloth[:, None]]
    return PosedScene(
        points=pts,
        normals=nrm,
        n_dot_p=np.einsum("ij,ij->i", nrm, pts),
        flashes=list(flashes),
        channels=np.ascontiguousarray(np.concatenate(diffuse + surface, axis=1).T),
        highlight=np.stack(highlight),
        landmarks=scene.landmarks @ rot.T + shift,
        landmark_normals=scene.landmark_normals @ rot.T,
        irises=irises,
        iris_normals=irises - shift,  # irises face along the head's radial direction
    )


@dataclass
class View:
    """One camera's images of a posed scene, one per shot, the surface seen at each pixel, and where the
    landmarks fall."""

    alpha: np.ndarray  # (H, W) coverage of the subject (head, hair, neck, shirt), soft at the silhouette
    # (3 * shots + SURFACE_CHANNELS, H, W), one plane per channel: the linear colour of the subject in each shot,
    # then the mean albedo (3), normal (3, world frame, not renormalised), skin and cloth of its points
    planes: np.ndarray
    landmarks: np.ndarray  # (68, 2) pixel coordinates
    landmark_visible: np.ndarray  # (68,) bool
    irises: np.ndarray  # (2, 2)
    iris_visible: np.ndarray

    @property
    def shots(self) -> int:
        return (len(self.planes) - SURFACE_CHANNELS) // 3

    def shot(self, k: int) -> np.ndarray:
        """(3, H, W): the R, G and B planes of shot ``k``."""
        return self.planes[3 * k : 3 * k + 3]

    def _surface(self, i: int, n: int = 1) -> np.ndarray:
        start = 3 * self.shots + i
        return self.planes[start : start + n] if n > 1 else self.planes[start]

    @property
    def albedo(self) -> np.ndarray:
        return self._surface(0, 3)

    @property
    def normal(self) -> np.ndarray:
        return self._surface(3, 3)

    @property
    def skin(self) -> np.ndarray:
        return self._surface(6)

    @property
    def cloth(self) -> np.ndarray:
        return self._surface(7)

    @cached_property
    def room(self) -> np.ndarray:
        """(3, H, W): the room's light on the subject at its usual level (part of every shot's colour)."""
        normal = self.normal
        return self.albedo * room_light(normal[1], normal[2])

    @cached_property
    def box(self) -> tuple[slice, slice]:
        """The rows and columns the subject covers."""
        rows, cols = np.flatnonzero(self.alpha.any(axis=1)), np.flatnonzero(self.alpha.any(axis=0))
        if not len(rows):
            return slice(0, 0), slice(0, 0)
        return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _visible_landmarks(cam, pts, nrm, centre, zbuf, nearest_around, tol):
    """Pixel positions of surface points, and whether the camera sees them.

    A point is hidden when it faces away or lies behind the surface at its
    pixel (or, if no sample fell there, the nearest surface of the 3x3
    neighbourhood, ``nearest_around``).  Its own pixel only: a mouth corner
    beside a beard is not hidden by it.  On a surface seen at a grazing angle a
    pixel spans a depth range of its own, so the tolerance grows with the
    slope, as for the shadow maps.
    """
    xy, depth = cam.project(pts.astype(np.float32))
    ix, iy = np.floor(xy[:, 0]).astype(int), np.floor(xy[:, 1]).astype(int)  # the pixel the renderer splats to
    inside = (ix >= 0) & (ix < cam.width) & (iy >= 0) & (iy < cam.height)
    pix = np.clip(iy, 0, cam.height - 1) * cam.width + np.clip(ix, 0, cam.width - 1)
    near = np.where(np.isfinite(zbuf[pix]), zbuf[pix], nearest_around[pix])
    to_cam = centre - pts
    cos = np.sum(nrm * to_cam, axis=1) / (np.linalg.norm(nrm, axis=1) * np.linalg.norm(to_cam, axis=1) + 1e-12)
    slope = np.sqrt(np.clip(1 - cos**2, 0, 1)) / np.maximum(cos, 1e-3)
    tol = tol + 2 * (depth / cam.focal_px) * np.minimum(slope, 4.0)  # two pixels' worth of depth on the slope
    return xy, inside & (cos > 0) & (depth <= near + tol)


def _add_highlights(colours: np.ndarray, scene: PosedScene, idx: np.ndarray, to_camera: np.ndarray) -> None:
    """Add to ``colours`` (3 * shots + SURFACE_CHANNELS, M), the channels of the points ``idx``, the specular
    highlights (Blinn-Phong, white) this camera sees."""
    shots = len(scene.flashes)
    normals = colours[3 * shots + 3 : 3 * shots + 6]
    for k, d in enumerate(scene.flashes):
        if d is None:
            continue
        half = d.astype(np.float32) + to_camera
        half /= np.linalg.norm(half)
        ndh = np.clip(half[0] * normals[0] + half[1] * normals[1] + half[2] * normals[2], 0, 1)
        ndh4 = (ndh * ndh) ** 2
        ndh8 = ndh4 * ndh4
        colours[3 * k : 3 * k + 3] += scene.highlight[k, idx] * ndh8 * ndh8 * ndh8  # ndh ** 24


def look(scene: PosedScene, cam: CameraModel) -> View:
    """Splat the points the camera sees: per pixel, the mean of their colours in every shot."""
    w, h = cam.width, cam.height
    centre = cam.basis()[0].astype(np.float32)
    idx = np.nonzero(scene.normals @ centre > scene.n_dot_p)[0]  # n . (c - p) > 0: facing the camera
    xy, depth = cam.project(scene.points[idx])
    ix, iy = np.floor(xy[:, 0]).astype(np.int64), np.floor(xy[:, 1]).astype(np.int64)
    inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    idx, ix, iy, depth = idx[inside], ix[inside], iy[inside], depth[inside]
    pix = iy * w + ix
    zbuf = _zbuffer(pix, depth, w * h)
    # a pixel the front surface left empty must not show what lies behind it (the neck inside the head):
    # points far behind the nearest surface of the 3x3 neighbourhood are dropped, and the hole is filled below
    near = cv2.erode(zbuf.reshape(h, w), np.ones((3, 3), np.uint8)).ravel()
    keep = (depth <= zbuf[pix] + 0.03) & (depth <= near[pix] + SEE_THROUGH)
    idx, pix = idx[keep], pix[keep]
    colours = scene.channels[:, idx]
    _add_highlights(colours, scene, idx, cam.to_camera())
    # per pixel and channel, the sum of the colours of its points in point order: one bincount per channel plane
    # (planes rather than interleaved channels keep every later array operation on long contiguous rows)
    n, channels = w * h, len(colours)
    count = np.bincount(pix, minlength=n).astype(np.float32).reshape(h, w)
    sums = np.empty((channels, h, w), np.float32)
    for c in range(channels):
        sums[c] = np.bincount(pix, colours[c], minlength=n).reshape(h, w)
    # pinholes between samples: normalised convolution (empty pixels hold zero sums) over the 3x3 neighbourhood,
    # inside the box the points cover and a pixel around it (everything outside is empty)
    hit = count > 0
    rows, cols = np.flatnonzero(hit.any(axis=1)), np.flatnonzero(hit.any(axis=0))
    box = (slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2)) if len(rows) else (
        slice(0, 0), slice(0, 0))
    filled_count = np.where(hit[box], count[box], cv2.blur(count[box], (3, 3)))
    mean = np.zeros_like(sums)
    for c in range(channels):
        inner = cv2.blur(sums[c][box], (3, 3))
        np.copyto(inner, sums[c][box], where=hit[box])
        mean[c][box] = inner / np.maximum(filled_count, 1e-6)
    mask = hit.astype(np.float32)
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    alpha = cv2.GaussianBlur(closed, (3, 3), 0.6)
    lm_xy, lm_vis = _visible_landmarks(cam, scene.landmarks, scene.landmark_normals, centre, zbuf, near, 0.06)
    ir_xy, ir_vis = _visible_landmarks(cam, scene.irises, scene.iris_normals, centre, zbuf, near, 0.06)
    return View(alpha, mean, lm_xy, lm_vis, ir_xy, ir_vis)
