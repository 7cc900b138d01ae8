"""A small software renderer for SynthPIE: dense surface points, z-buffer, shadow maps.

The head surface is sampled on a dense (theta, phi) grid, finer than a pixel,
so splatting points into a z-buffer gives a hole-free image with true
self-occlusion.  Cast shadows come from one shadow map per flash.  The work
is split by what it depends on: geometry per subject and expression, the
projection per camera, shading per flash.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from frontalize.synthpie.head import Head, surface_points

BACKGROUND = 0.42  # the studio's plain grey, the same for every image
SHIRT = np.array([0.22, 0.24, 0.30])  # one shirt for everyone: clothing must not carry identity


@dataclass
class Scene:
    """Everything about one subject with one expression that no camera or light changes."""

    points: np.ndarray  # (N, 3) head frame
    normals: np.ndarray  # (N, 3) unit, outward
    albedo: np.ndarray  # (N, 3) in [0, 1]
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


def _body(spacing: float, skin: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neck and shoulders, sampled at ``spacing``; only what the frame can show (y > -2.6)."""
    parts = []
    # neck: an elliptic cylinder
    a = np.arange(-np.pi, np.pi, spacing / 0.5)
    A, Y = np.meshgrid(a, np.arange(-2.2, -0.45, spacing))
    p = np.stack([0.48 * np.sin(A), Y, 0.50 * np.cos(A) - 0.2], -1).reshape(-1, 3)
    n = np.stack([np.sin(A) / 0.48, 0 * A, np.cos(A) / 0.50], -1).reshape(-1, 3)
    parts.append((p, n, np.broadcast_to(skin * 0.93, p.shape)))
    # torso sides
    a = np.arange(-np.pi, np.pi, spacing / 1.9)
    A, Y = np.meshgrid(a, np.arange(-2.6, -1.6, spacing))
    p = np.stack([1.9 * np.sin(A), Y, 0.9 * np.cos(A) - 0.3], -1).reshape(-1, 3)
    n = np.stack([np.sin(A) / 1.9, 0 * A, np.cos(A) / 0.9], -1).reshape(-1, 3)
    parts.append((p, n, np.broadcast_to(SHIRT, p.shape)))
    # shoulders: the top of the torso, sloping down from the neck, sampled evenly in x-z
    X, Z = np.meshgrid(np.arange(-1.9, 1.9, spacing), np.arange(-1.2, 0.6, spacing))
    R = np.sqrt((X / 1.9) ** 2 + ((Z + 0.3) / 0.9) ** 2)
    keep = (R <= 1.0) & (((X / 0.48) ** 2 + ((Z + 0.2) / 0.5) ** 2) > 1.0)
    X, Z, R = X[keep], Z[keep], R[keep]
    p = np.stack([X, -1.6 + 0.35 * (1 - R), Z], -1)
    n = np.stack([0.35 * X / (1.9**2 * R + 1e-6), np.ones_like(X), 0.35 * (Z + 0.3) / (0.81 * R + 1e-6)], -1)
    parts.append((p, n, np.broadcast_to(SHIRT, p.shape)))
    pts = np.concatenate([q[0] for q in parts])
    nrm = np.concatenate([q[1] for q in parts])
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    alb = np.concatenate([q[2] for q in parts])
    return pts, nrm, alb


def build_scene(head: Head, n_phi: int) -> Scene:
    n_th = 2 * n_phi
    ph = np.linspace(-np.pi / 2 + 0.02, np.pi / 2 - 0.02, n_phi)
    th = np.linspace(-np.pi, np.pi, n_th, endpoint=False)
    TH, PH = np.meshgrid(th, ph)
    pts = surface_points(head, TH, PH)
    nrm = _grid_normals(pts)
    alb = head.albedo(TH.ravel(), PH.ravel())
    body_p, body_n, body_a = _body(3.0 / n_phi, np.asarray(head.p.skin))  # about the head's spacing
    lt, lp = head.landmark_angles()
    it, ip = head.iris_angles()
    f32 = np.float32  # half the memory traffic; the renderer needs no more precision
    return Scene(
        points=np.concatenate([pts.reshape(-1, 3), body_p]).astype(f32),
        normals=np.concatenate([nrm.reshape(-1, 3), body_n]).astype(f32),
        albedo=np.concatenate([alb, body_a]).astype(f32),
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


@dataclass
class View:
    """One camera's look at a posed scene: which points it sees, and where."""

    idx: np.ndarray  # indices of visible points
    pix: np.ndarray  # their flat pixel index
    view_dirs: np.ndarray  # unit vectors from the visible points to the camera
    normals: np.ndarray  # posed normals of the visible points
    albedo: np.ndarray
    room_lit: np.ndarray  # their colour under room light alone
    landmarks: np.ndarray  # (68, 2) pixel coordinates
    landmark_visible: np.ndarray  # (68,) bool
    irises: np.ndarray  # (2, 2)
    iris_visible: np.ndarray


def _zbuffer(pix: np.ndarray, depth: np.ndarray, size: int) -> np.ndarray:
    zbuf = np.full(size, np.inf)
    np.minimum.at(zbuf, pix, depth)
    return zbuf


def _visible_landmarks(cam, pts, nrm, centre, zbuf, tol):
    xy, depth = cam.project(pts)
    ix, iy = np.round(xy[:, 0]).astype(int), np.round(xy[:, 1]).astype(int)
    inside = (ix >= 0) & (ix < cam.width) & (iy >= 0) & (iy < cam.height)
    facing = np.sum(nrm * (centre - pts), axis=1) > 0
    vis = inside & facing
    flat = np.clip(iy, 0, cam.height - 1) * cam.width + np.clip(ix, 0, cam.width - 1)
    # compare with the nearest surface in a 3x3 neighbourhood: landmarks sit between samples
    near = np.full(len(pts), np.inf)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            fy = np.clip(iy + dy, 0, cam.height - 1)
            fx = np.clip(ix + dx, 0, cam.width - 1)
            near = np.minimum(near, zbuf[fy * cam.width + fx])
    vis &= depth <= near + tol
    del flat
    return xy, vis


@dataclass
class PosedScene:
    """A scene in world coordinates for one recording's head pose (shared by every camera and flash)."""

    points: np.ndarray
    normals: np.ndarray
    albedo: np.ndarray
    n_dot_p: np.ndarray  # normals . points: back-face culling becomes one matrix-vector product
    landmarks: np.ndarray
    landmark_normals: np.ndarray
    irises: np.ndarray
    iris_normals: np.ndarray


def pose(scene: Scene, head_rot: np.ndarray, head_shift: np.ndarray) -> PosedScene:
    rot, shift = head_rot.astype(np.float32), head_shift.astype(np.float32)
    pts = scene.points @ rot.T + shift
    nrm = scene.normals @ rot.T
    irises = scene.irises @ rot.T + shift
    return PosedScene(
        points=pts,
        normals=nrm,
        albedo=scene.albedo,
        n_dot_p=np.einsum("ij,ij->i", nrm, pts),
        landmarks=scene.landmarks @ rot.T + shift,
        landmark_normals=scene.landmark_normals @ rot.T,
        irises=irises,
        iris_normals=irises - shift,  # irises face along the head's radial direction
    )


def look(scene: PosedScene, cam: CameraModel) -> View:
    centre = cam.basis()[0].astype(np.float32)
    idx = np.nonzero(scene.normals @ centre > scene.n_dot_p)[0]  # n . (c - p) > 0: facing the camera
    pts = scene.points[idx]
    xy, depth = cam.project(pts)
    ix, iy = np.floor(xy[:, 0]).astype(np.int64), np.floor(xy[:, 1]).astype(np.int64)
    inside = (ix >= 0) & (ix < cam.width) & (iy >= 0) & (iy < cam.height)
    idx, ix, iy, depth, pts = idx[inside], ix[inside], iy[inside], depth[inside], pts[inside]
    pix = iy * cam.width + ix
    zbuf = _zbuffer(pix, depth, cam.width * cam.height)
    keep = depth <= zbuf[pix] + 0.03
    idx, pix = idx[keep], pix[keep]
    v = centre - pts[keep]
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    n, alb = scene.normals[idx], scene.albedo[idx]
    # room light: a soft dome from above, present in every shot as in the Multi-PIE studio
    room = alb * (0.30 + 0.16 * n[:, 1] + 0.10 * np.clip(n[:, 2], 0, 1))[:, None]
    lm_xy, lm_vis = _visible_landmarks(cam, scene.landmarks, scene.landmark_normals, centre, zbuf, 0.06)
    ir_xy, ir_vis = _visible_landmarks(cam, scene.irises, scene.iris_normals, centre, zbuf, 0.06)
    return View(idx, pix, v, n, alb, room, lm_xy, lm_vis, ir_xy, ir_vis)


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


@dataclass(frozen=True)
class Lighting:
    flash: np.ndarray | None  # unit direction towards the flash, or None for room light only
    exposure: float = 1.0


def shade(view: View, lit: np.ndarray | None, lighting: Lighting) -> np.ndarray:
    """Colours of the visible points: room light plus the flash (diffuse, a little specular)."""
    col = view.room_lit.copy()
    if lighting.flash is not None:
        L = lighting.flash.astype(np.float32)
        ndl = np.clip(view.normals @ L, 0, None) * (lit[view.idx] if lit is not None else 1.0)
        col += view.albedo * (0.72 * ndl)[:, None]
        on = np.nonzero(ndl > 0)[0]
        h = L[None, :] + view.view_dirs[on]
        ndh = np.einsum("ij,ij->i", view.normals[on], h) / np.linalg.norm(h, axis=1)
        col[on] += (0.12 * np.clip(ndh, 0, 1) ** 24)[:, None]
    return col * np.float32(lighting.exposure)


def composite(view: View, colours: np.ndarray, width: int, height: int, noise: np.ndarray) -> np.ndarray:
    """Average the colours that fall into each pixel, fill pinholes, blend over the background."""
    size = width * height
    count = np.bincount(view.pix, minlength=size).astype(np.float64)
    img = np.stack([np.bincount(view.pix, weights=colours[:, c], minlength=size) for c in range(3)], -1)
    mask = (count > 0).astype(np.float32).reshape(height, width)
    img = img.reshape(height, width, 3).astype(np.float32)
    cnt = np.maximum(count.reshape(height, width, 1), 1).astype(np.float32)
    img = img / cnt
    # pinholes between samples: normalised convolution over the 3x3 neighbourhood
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    filled = cv2.blur(img * mask[..., None], (3, 3)) / np.maximum(cv2.blur(mask, (3, 3)), 1e-6)[..., None]
    img = np.where(mask[..., None] > 0, img, filled)
    alpha = cv2.GaussianBlur(closed, (3, 3), 0.6)[..., None]
    img = img * alpha + BACKGROUND * (1 - alpha)
    img = cv2.GaussianBlur(img, (3, 3), 0.5)
    img = img + noise
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
