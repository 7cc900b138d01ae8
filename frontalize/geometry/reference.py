"""The 3D reference face: for every pixel of the frontal template crop, the 3D point it shows.

Built in code from the SynthPIE head model, deterministically: ``REFERENCE_HEADS`` subjects are drawn
(neutral expression), each head's front is sampled densely, its five landmarks are similarity-aligned to
the template exactly as preparation aligns a frontal photo, and the aligned front surfaces are z-buffered
into depth maps whose mean is the reference.  The 5 and 68 landmarks are the means of the aligned heads'.
``reference_from_heads`` does this for any list of heads: the project's reference is it on the 32 drawn
heads, a subject's own head (geometry/oracle.py, an oracle shape for benchmarks) is it on one.

The surface is the head model's outer surface, so it includes the scalp and facial hair as the head model
shapes them (hair is a thickness on the skull, synthpie/hair.py) and the ears where hair leaves them bare.

Coordinates ("template frame"): x right and y down, z away from the viewer, in template pixels, with the
origin on the crop's centre axis at the landmarks' mean depth.  The crop is seen by a pinhole camera with a
long lens (``FOCAL_CROPS`` crop widths, about what SynthPIE's and Multi-PIE's cameras give) from a distance
of one focal length; each pixel's point lies on that camera's ray through the pixel, so the frontal pose
maps the template exactly onto itself.  A frontal camera sees the point with the smallest z.  Outside the
mean face (background, hair beyond the heads' common outline) the depth is continued smoothly by
inpainting, so the warp stays defined there.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from frontalize.data.align import frontal_transform
from frontalize.data.landmarks import IBUG68_MOUTH_IMAGE_LEFT, IBUG68_MOUTH_IMAGE_RIGHT, IBUG68_NOSE_TIP
from frontalize.synthpie.head import Head, sample_subject, surface_points

REFERENCE_HEADS = 32
REFERENCE_SEED = 2015  # Hassner et al.'s year: any fixed seed would do
BUILD_SIZE = 128  # built once at this crop size, resampled for others
COVERAGE = 0.6  # a template pixel belongs to the face where at least this share of heads covers it
FOCAL_CROPS = 5.0  # the crop camera's focal length in crop widths


@dataclass(frozen=True)
class ReferenceFace:
    size: int
    depth: np.ndarray  # (size, size) float32: z of the point each template pixel shows
    face: np.ndarray  # (size, size) bool: where the heads' fronts cover the pixel (elsewhere depth is inpainted)
    five: np.ndarray  # (5, 3) eye centres, nose tip, mouth corners (MTCNN order), template frame
    ibug68: np.ndarray  # (68, 3)
    # degrees: how far the template alignment turned the heads' own upright axis in the image plane (their mean); a
    # head whose eyes sit at different heights is aligned a little rolled, and a known head pose must include that
    upright_roll: float = 0.0

    def points(self) -> np.ndarray:
        """(size, size, 3): the 3D point behind every template pixel."""
        v, u = np.mgrid[0 : self.size, 0 : self.size].astype(np.float32) - self.size / 2
        return on_rays(np.stack([u, v, self.depth], axis=-1), self.size)


    def normals(self) -> np.ndarray:
        """(size, size, 3) unit surface normals, pointing out of the face (towards a frontal viewer: z < 0)."""
        p = self.points()
        n = np.cross(np.gradient(p, axis=0), np.gradient(p, axis=1))  # d/dy x d/dx: out of the face (x right, y down)
        n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-12
        return n.astype(np.float32)


def skin_region(ref: ReferenceFace) -> np.ndarray:
    """(size, size) bool: the reference face's skin from the jaw line up to a hairline, which lies above the brows
    by 0.7 of the brow-to-nose-base height (the thirds of a face, a little short of a full third: where a fringe
    usually starts).  The scalp and the ears above and beside it are hair or background in most photos."""
    p = ref.ibug68[:, :2] + ref.size / 2
    jaw, brows = p[0:17], p[17:27]
    lift = 0.7 * (p[33, 1] - brows[:, 1].mean())
    outline = np.concatenate([jaw, (brows - [0.0, lift])[::-1]])
    region = np.zeros((ref.size, ref.size), np.uint8)
    cv2.fillPoly(region, [np.round(outline * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return region.astype(bool) & ref.face


def on_rays(points: np.ndarray, size: int) -> np.ndarray:
    """Move points given as (image x, image y, depth) onto the frontal camera's ray through (x, y)."""
    f = FOCAL_CROPS * size
    out = np.array(points, dtype=np.float32, copy=True)
    out[..., :2] *= (f + out[..., 2:]) / f
    return out


def _head_front(head: Head, n_phi: int) -> np.ndarray:
    """Dense samples of the head's front half (ears included), in the head frame (x left, y up, z forward)."""
    ph = np.linspace(-np.pi / 2 + 0.02, np.pi / 2 - 0.02, n_phi)
    th = np.linspace(-2.0, 2.0, int(1.6 * n_phi))
    TH, PH = np.meshgrid(th, ph)
    return surface_points(head, TH, PH).reshape(-1, 3)


def _to_image_frame(p: np.ndarray) -> np.ndarray:
    """Head frame -> a frontal camera's frame: x right (the subject's left), y down, z away from the viewer."""
    return p * np.array([1.0, -1.0, -1.0])


def _head_landmarks(head: Head) -> tuple[np.ndarray, np.ndarray]:
    lt, lp = head.landmark_angles()
    it, ip = head.iris_angles()
    ibug = _to_image_frame(surface_points(head, lt, lp))
    irises = _to_image_frame(surface_points(head, it, ip))
    five = np.stack([irises[0], irises[1], ibug[IBUG68_NOSE_TIP], ibug[IBUG68_MOUTH_IMAGE_LEFT], ibug[IBUG68_MOUTH_IMAGE_RIGHT]])
    return five, ibug


def _aligned(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply the 2D template alignment to x, y and its scale to z; centre x, y on the crop."""
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    xy = points[:, :2] @ m[:, :2].T + m[:, 2] - BUILD_SIZE / 2
    return np.column_stack([xy, points[:, 2] * scale])


def _depth_map(points: np.ndarray, size: int) -> np.ndarray:
    """z-buffer: the nearest (smallest z) point per template pixel; inf where nothing lands."""
    u = np.round(points[:, 0] + size / 2).astype(np.int64)
    v = np.round(points[:, 1] + size / 2).astype(np.int64)
    inside = (u >= 0) & (u < size) & (v >= 0) & (v < size)
    depth = np.full(size * size, np.inf, dtype=np.float32)
    np.minimum.at(depth, v[inside] * size + u[inside], points[inside, 2].astype(np.float32))
    depth = depth.reshape(size, size)
    # where a protruding part (the nose, the lips) stretches the samples apart, pixel-sized holes stay empty:
    # fill each from its nearest neighbour in front (a 3x3 minimum), twice
    for _ in range(2):
        nearest = cv2.erode(depth, np.ones((3, 3), np.uint8))
        depth = np.where(np.isfinite(depth), depth, np.where(nearest < 1e30, nearest, np.inf))  # OpenCV pads with FLT_MAX
    return depth


def _alignment_roll(m: np.ndarray) -> float:
    """The in-plane rotation (degrees) of a 2x3 similarity in image coordinates (x right, y down)."""
    return float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))


def reference_from_heads(heads: Sequence[Head]) -> ReferenceFace:
    """The reference face of these heads at BUILD_SIZE: where at least COVERAGE of their aligned fronts cover a
    template pixel, the mean of their depths there (one head: its own front, hair and ears included)."""
    if not heads:
        raise ValueError("a reference face needs at least one head")
    depths, fives, ibugs, rolls = [], [], [], []
    for head in heads:
        five, ibug = _head_landmarks(head)
        m = frontal_transform(five[:, :2], BUILD_SIZE)
        depths.append(_depth_map(_aligned(_to_image_frame(_head_front(head, BUILD_SIZE)), m), BUILD_SIZE))
        fives.append(_aligned(five, m))
        ibugs.append(_aligned(ibug, m))
        rolls.append(_alignment_roll(m))
    stack = np.stack(depths)
    covered = np.isfinite(stack)
    face = covered.mean(0) >= COVERAGE
    mean = np.where(covered, stack, 0).sum(0) / np.maximum(covered.sum(0), 1)
    five, ibug = np.mean(fives, 0), np.mean(ibugs, 0)
    origin = five[:, 2].mean()  # depths measured from the landmarks' mean depth
    depth = _inpaint(np.where(face, mean, 0.0), ~face) - origin
    five[:, 2] -= origin
    ibug[:, 2] -= origin
    return ReferenceFace(BUILD_SIZE, depth.astype(np.float32), face, on_rays(five, BUILD_SIZE), on_rays(ibug, BUILD_SIZE),
                         float(np.mean(rolls)))


@lru_cache(maxsize=1)
def _built() -> ReferenceFace:
    rng = np.random.default_rng(REFERENCE_SEED)
    return reference_from_heads([Head(sample_subject(rng)) for _ in range(REFERENCE_HEADS)])


def _inpaint(depth: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Continue the face's depth smoothly into the rest of the crop (OpenCV's Telea inpainting)."""
    return cv2.inpaint(depth.astype(np.float32), hole.astype(np.uint8), 9, cv2.INPAINT_TELEA)


@lru_cache(maxsize=8)
def reference_face(size: int) -> ReferenceFace:
    """The reference face for crops of ``size`` pixels (built once at BUILD_SIZE, resampled)."""
    return resampled(_built(), size)


def resampled(ref: ReferenceFace, size: int) -> ReferenceFace:
    """``ref`` for crops of ``size`` pixels."""
    if size == ref.size:
        return ref
    k = size / ref.size
    depth = cv2.resize(ref.depth, (size, size), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR) * k
    face = cv2.resize(ref.face.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)

    def scaled(p: np.ndarray) -> np.ndarray:
        # back to image positions; pixel centres at integers: x in the big crop is (x + c + 0.5) * k - 0.5 - c'
        f = FOCAL_CROPS * ref.size
        q = p.copy()
        q[:, :2] = (p[:, :2] * f / (f + p[:, 2:]) + ref.size / 2 + 0.5) * k - 0.5 - size / 2
        q[:, 2] = p[:, 2] * k
        return on_rays(q, size)

    return replace(ref, size=size, depth=depth.astype(np.float32), face=face, five=scaled(ref.five), ibug68=scaled(ref.ibug68))


def turned(ref: ReferenceFace, rotation: np.ndarray, translation: np.ndarray, iterations: int = 10) -> ReferenceFace:
    """``ref`` as the crop camera sees it in a pose (``rotation``, ``translation``: geometry/pose.py's), made a
    reference of its own: seen in the frontal pose, it shows each template pixel the point that pose showed there.

    For a warp scored against a picture whose head is turned a little (SynthPIE turns each recording's head by a
    few degrees, its frontal target included): the reference turned as the target shows it maps the template's
    pixels to the points the target shows (geometry/oracle.py).  Each pixel's point is found by inverse mapping
    (a fixed-point search for the point of ``ref`` that lands on it, depth interpolated bilinearly; outside the
    face, ``ref``'s inpainted depth), exact for the frontal pose; for small turns only (a point of the near side
    stands in for one the turn hides)."""
    s, f = ref.size, FOCAL_CROPS * ref.size
    rot, trans = np.asarray(rotation, np.float64), np.asarray(translation, np.float64)
    v, u = np.mgrid[0:s, 0:s].astype(np.float64) - s / 2
    target = np.stack([u, v], axis=-1)
    source = target.copy()
    for _ in range(iterations):
        z = cv2.remap(ref.depth, *(source + s / 2).astype(np.float32).transpose(2, 0, 1), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
        cam = on_rays(np.concatenate([source, z[..., None]], axis=-1), s) @ rot.T + trans
        landed = cam[..., :2] / cam[..., 2:] * f
        source = source + (target - landed) * (cam[..., 2:] / f)  # the projection scales by about f / depth
    inside = np.all((source >= -s / 2) & (source <= s / 2 - 1), axis=-1) & (np.linalg.norm(target - landed, axis=-1) < 0.05)
    face = cv2.remap(ref.face.astype(np.uint8), *(source + s / 2).astype(np.float32).transpose(2, 0, 1),
                     cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool) & inside
    depth = cam[..., 2] - f  # outside the face: ``ref``'s inpainted depth, turned with the rest

    def moved(p: np.ndarray) -> np.ndarray:
        return p @ rot.T + trans - np.array([0.0, 0.0, f])

    # the turned face's frame is the crop's own: nothing of the heads' alignment is left to undo
    return ReferenceFace(s, depth.astype(np.float32), face, moved(ref.five), moved(ref.ibug68), 0.0)
