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
image per shot (``View``); per image, only exposure, lens blur and noise.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from frontalize.synthpie.head import Head, surface_points

BACKGROUND = 0.42  # the studio's plain grey, the same for every image
SHIRT = np.array([0.22, 0.24, 0.30])  # everyone's shirt in session 01: clothing must not carry identity
SHIRT_GLOSS = 0.15
MAX_INSERTED = 12  # points added between two grid neighbours at most
SEE_THROUGH = 0.15  # head units: a point this far behind a neighbouring pixel's surface is hidden by it


@dataclass
class Scene:
    """Everything about one subject with one expression that no camera or light changes."""

    points: np.ndarray  # (N, 3) head frame
    normals: np.ndarray  # (N, 3) unit, outward
    albedo: np.ndarray  # (N, 3) in [0, 1]
    gloss: np.ndarray  # (N,) strength of the specular highlight
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
    """Rows to add to a (phi, theta, C) grid: positions (3), normals (3), then appearance (albedo, gloss).

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

    Only what some camera can show: nothing below the frame (y < -2.2), nor the
    back of the torso.  The same for every subject.
    """
    parts = []
    # neck: an elliptic cylinder
    a = np.arange(-np.pi, np.pi, spacing / 0.5)
    A, Y = np.meshgrid(a, np.arange(-1.9, -0.45, spacing))
    p = np.stack([0.48 * np.sin(A), Y, 0.50 * np.cos(A) - 0.2], -1).reshape(-1, 3)
    n = np.stack([np.sin(A) / 0.48, 0 * A, np.cos(A) / 0.50], -1).reshape(-1, 3)
    parts.append((p, n, np.ones(len(p), bool)))
    # torso sides
    a = np.arange(-0.7 * np.pi, 0.7 * np.pi, spacing / 1.9)
    A, Y = np.meshgrid(a, np.arange(-2.2, -1.6, spacing))
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


def build_scene(head: Head, n_phi: int, shirt=SHIRT) -> Scene:
    """Sample the head on an n_phi x 1.4 n_phi grid (about one sample per pixel), add the body in ``shirt``.

    Fewer columns than twice the rows: a camera sees half the azimuths across the
    head's width, but half the elevations over its taller, longer profile.
    """
    n_th = int(1.4 * n_phi)
    ph = np.linspace(-np.pi / 2 + 0.02, np.pi / 2 - 0.02, n_phi)
    th = np.linspace(-np.pi, np.pi, n_th, endpoint=False)
    TH, PH = np.meshgrid(th, ph)
    pts = surface_points(head, TH, PH)
    nrm = _grid_normals(pts)
    albedo, gloss = head.appearance(TH, PH)
    grid = np.concatenate([pts, nrm, albedo, gloss[..., None]], axis=-1).astype(np.float32)
    spacing = 1.5 * 2 * np.pi / n_th  # a little over the grid's coarser pitch on the unit sphere
    head_pts = np.concatenate([grid.reshape(-1, grid.shape[-1]), _densify(grid, spacing)])
    head_pts[:, 3:6] /= np.linalg.norm(head_pts[:, 3:6], axis=1, keepdims=True) + 1e-12
    body_p, body_n, is_neck = _body(3.0 / n_phi)  # about the head's spacing
    skin = np.asarray(head.p.skin, np.float32)
    body_albedo = np.where(is_neck[:, None], skin * np.float32(0.93), np.asarray(shirt, np.float32))
    body_gloss = np.where(is_neck, np.float32(1.0), np.float32(SHIRT_GLOSS))
    lt, lp = head.landmark_angles()
    it, ip = head.iris_angles()
    return Scene(
        points=np.concatenate([head_pts[:, :3], body_p]),
        normals=np.concatenate([head_pts[:, 3:6], body_n]),
        albedo=np.concatenate([head_pts[:, 6:9], body_albedo]),
        gloss=np.concatenate([head_pts[:, 9], body_gloss]),
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
        x = self.focal_px * (rel @ right) / depth + self.width / 2
        y = -self.focal_px * (rel @ up) / depth + self.height / 2
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
    with its cast shadows) and the weight of its specular highlight.
    """

    points: np.ndarray
    normals: np.ndarray
    n_dot_p: np.ndarray  # normals . points: back-face culling becomes one matrix-vector product
    flashes: list  # per shot: unit direction towards the flash, or None (room light only)
    diffuse: np.ndarray  # (N, 3 * shots) colour of each point in each shot, before highlights
    highlight: np.ndarray  # (N, shots) weight of the specular highlight (gloss, lit, facing the flash)
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


def pose(scene: Scene, head_rot: np.ndarray, head_shift: np.ndarray, flashes: list) -> PosedScene:
    """Place the scene in the studio and light it for each shot (a flash direction, or None for room light only)."""
    rot, shift = head_rot.astype(np.float32), head_shift.astype(np.float32)
    pts = scene.points @ rot.T + shift
    nrm = scene.normals @ rot.T
    # room light: a soft dome from above, present in every shot as in the Multi-PIE studio
    room = scene.albedo * (0.30 + 0.16 * nrm[:, 1:2] + 0.10 * np.clip(nrm[:, 2:3], 0, 1))
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
    return PosedScene(
        points=pts,
        normals=nrm,
        n_dot_p=np.einsum("ij,ij->i", nrm, pts),
        flashes=list(flashes),
        diffuse=np.concatenate(diffuse, axis=1),
        highlight=np.stack(highlight, axis=1),
        landmarks=scene.landmarks @ rot.T + shift,
        landmark_normals=scene.landmark_normals @ rot.T,
        irises=irises,
        iris_normals=irises - shift,  # irises face along the head's radial direction
    )


@dataclass
class View:
    """One camera's images of a posed scene, one per shot, and where the landmarks fall."""

    alpha: np.ndarray  # (H, W) coverage, soft at the silhouette
    backdrop: np.ndarray  # (H, W) the studio's grey where the subject does not cover it
    colours: np.ndarray  # (3 * shots, H, W) linear colour of the subject in each shot, one plane per channel
    landmarks: np.ndarray  # (68, 2) pixel coordinates
    landmark_visible: np.ndarray  # (68,) bool
    irises: np.ndarray  # (2, 2)
    iris_visible: np.ndarray

    def shot(self, k: int) -> np.ndarray:
        """(3, H, W): the R, G and B planes of shot ``k``."""
        return self.colours[3 * k : 3 * k + 3]


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
    """Add to ``colours`` (M, 3 * shots) the specular highlights (Blinn-Phong, white) of the points ``idx`` seen
    from this camera."""
    normals = scene.normals[idx]
    for k, d in enumerate(scene.flashes):
        if d is None:
            continue
        half = d.astype(np.float32) + to_camera
        ndh = np.clip(normals @ (half / np.linalg.norm(half)), 0, 1)
        ndh4 = (ndh * ndh) ** 2
        ndh8 = ndh4 * ndh4
        colours[:, 3 * k : 3 * k + 3] += (scene.highlight[idx, k] * ndh8 * ndh8 * ndh8)[:, None]  # ndh ** 24


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
    colours = scene.diffuse[idx]
    _add_highlights(colours, scene, idx, cam.to_camera())
    # per pixel and channel, the sum of the colours of its points in point order: one bincount over
    # (channel, pixel) keys; channel planes rather than interleaved channels keep every later array operation
    # on long contiguous rows (per-pixel arithmetic, so the same numbers either way)
    n, channels = w * h, colours.shape[1]
    count = np.bincount(pix, minlength=n).astype(np.float32).reshape(h, w)
    keys = (pix[None, :] + (np.arange(channels) * n)[:, None]).ravel()
    sums = np.bincount(keys, colours.T.ravel(), minlength=channels * n).astype(np.float32).reshape(channels, h, w)
    # pinholes between samples: normalised convolution (empty pixels hold zero sums) over the 3x3 neighbourhood
    hit = count > 0
    filled_count = np.where(hit, count, cv2.blur(count, (3, 3)))
    mean = np.stack([cv2.blur(plane, (3, 3)) for plane in sums])
    np.copyto(mean, sums, where=hit)
    mean /= np.maximum(filled_count, 1e-6)
    mask = hit.astype(np.float32)
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    alpha = cv2.GaussianBlur(closed, (3, 3), 0.6)
    backdrop = np.float32(BACKGROUND) * (1 - alpha)
    lm_xy, lm_vis = _visible_landmarks(cam, scene.landmarks, scene.landmark_normals, centre, zbuf, near, 0.06)
    ir_xy, ir_vis = _visible_landmarks(cam, scene.irises, scene.iris_normals, centre, zbuf, near, 0.06)
    return View(alpha, backdrop, mean, lm_xy, lm_vis, ir_xy, ir_vis)


def composite(view: View, shot: int, gain: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """One shot: the subject under the shot's exposure and colour balance (``gain``, per channel) over
    the background, softened like a lens, with sensor noise (H, W) or (H, W, 1); uint8 RGB.

    Channel by channel, in place: the same arithmetic as whole-array broadcasting, without its short inner loops."""
    gain = np.asarray(gain, np.float32)
    planes = view.shot(shot)
    img = np.empty((*view.alpha.shape, 3), np.float32)
    for c in range(3):
        np.multiply(planes[c], view.alpha * gain[c], out=img[..., c])
        img[..., c] += view.backdrop
    img = cv2.GaussianBlur(img, (3, 3), 0.5)
    noise = noise.reshape(view.alpha.shape)
    for c in range(3):
        img[..., c] += noise
    img *= 255
    img += 0.5
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)
