"""SynthPIE subjects: a parametric 3D head with its own shape and appearance.

The head is a star-shaped surface around its centre: for every direction
(theta, phi) a radius.  theta is the azimuth (0 = straight ahead, positive
towards the subject's left), phi the elevation (positive up).  Head frame:
x to the subject's left, y up, z forward; one unit is about 9 cm.

The base is an egg (different half-heights above and below, a jaw that
narrows); facial structure is added as smooth radial bumps (nose, brow
ridge, cheekbones, lips, chin, eye sockets, ears, hair volume) whose sizes
and positions are drawn per subject, so identity lives in the 3D shape, the
profile silhouette included, and not only in colours.  Albedo is painted in
the same (theta, phi) coordinates.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class SubjectParams:
    # global shape
    width: float  # half-width of the skull (x)
    height_up: float  # centre to vertex
    height_down: float  # centre to chin
    depth: float  # centre to face (z)
    jaw_taper: float  # how much the lower face narrows
    jaw_width: float  # widening of the mandible angle
    forehead_slope: float
    # features (angles in radians, sizes in head units)
    eye_level: float
    eye_spacing: float
    eye_width: float
    eye_open: float
    eye_depth: float
    brow_ridge: float
    brow_height: float
    brow_thickness: float
    brow_arch: float
    cheekbone: float
    cheek_spacing: float
    nose_length: float
    nose_width: float
    nose_projection: float
    nose_bridge: float
    nose_tip_round: float
    mouth_drop: float
    mouth_width: float
    lip_upper: float
    lip_lower: float
    chin_projection: float
    chin_drop: float
    ear_size: float
    ear_out: float
    ear_height: float
    # appearance
    skin: tuple  # RGB in [0, 1]
    lip_tint: float
    blush: float
    iris: tuple
    brow_colour: tuple
    hair_colour: tuple
    hairline: float
    hair_recede: float
    hair_volume: float
    texture_seed: int
    moles: int

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


SKIN_TONES = np.array(
    [
        [0.96, 0.80, 0.69],
        [0.90, 0.72, 0.60],
        [0.80, 0.60, 0.46],
        [0.66, 0.46, 0.33],
        [0.50, 0.34, 0.24],
        [0.36, 0.24, 0.17],
    ]
)
HAIR_COLOURS = np.array(
    [
        [0.06, 0.05, 0.05],
        [0.16, 0.10, 0.07],
        [0.30, 0.20, 0.12],
        [0.52, 0.38, 0.22],
        [0.75, 0.62, 0.40],
        [0.55, 0.55, 0.55],
        [0.45, 0.18, 0.08],
    ]
)
IRIS_COLOURS = np.array([[0.25, 0.15, 0.08], [0.12, 0.08, 0.05], [0.30, 0.42, 0.55], [0.35, 0.42, 0.25], [0.45, 0.35, 0.18]])


def sample_subject(rng: np.random.Generator) -> SubjectParams:
    """Draw one subject.  Ranges are wide so that subjects differ as people do."""
    u = rng.uniform
    tone = rng.uniform(0, len(SKIN_TONES) - 1)
    lo = int(np.floor(tone))
    skin = SKIN_TONES[lo] + (SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)] - SKIN_TONES[lo]) * (tone - lo)
    skin = np.clip(skin * u(0.95, 1.05, 3), 0, 1)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * u(0.8, 1.2)
    brow = np.clip(hair * u(0.6, 1.0) + 0.02, 0, 1)
    return SubjectParams(
        width=u(0.70, 0.82),
        height_up=u(0.95, 1.10),
        height_down=u(1.10, 1.30),
        depth=u(0.90, 1.02),
        jaw_taper=u(0.12, 0.32),
        jaw_width=u(-0.06, 0.08),
        forehead_slope=u(0.0, 0.25),
        eye_level=u(-0.05, 0.03),
        eye_spacing=u(0.30, 0.38),
        eye_width=u(0.095, 0.125),
        eye_open=u(0.036, 0.052),
        eye_depth=u(0.05, 0.10),
        brow_ridge=u(0.01, 0.06),
        brow_height=u(0.13, 0.19),
        brow_thickness=u(0.018, 0.035),
        brow_arch=u(0.0, 0.04),
        cheekbone=u(0.01, 0.06),
        cheek_spacing=u(0.40, 0.52),
        nose_length=u(0.22, 0.30),
        nose_width=u(0.075, 0.12),
        nose_projection=u(0.18, 0.34),
        nose_bridge=u(0.02, 0.08),
        nose_tip_round=u(0.03, 0.07),
        mouth_drop=u(0.29, 0.37),
        mouth_width=u(0.19, 0.27),
        lip_upper=u(0.015, 0.045),
        lip_lower=u(0.02, 0.055),
        chin_projection=u(0.02, 0.10),
        chin_drop=u(0.18, 0.27),
        ear_size=u(0.85, 1.2),
        ear_out=u(0.10, 0.20),
        ear_height=u(-0.18, -0.05),
        skin=tuple(float(c) for c in skin),
        lip_tint=u(0.15, 0.40),
        blush=u(0.0, 0.12),
        iris=tuple(float(c) for c in IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * u(0.8, 1.2)),
        brow_colour=tuple(float(c) for c in brow),
        hair_colour=tuple(float(c) for c in np.clip(hair, 0, 1)),
        hairline=u(0.40, 0.62),
        hair_recede=u(0.0, 0.35),
        hair_volume=u(0.0, 0.12) if rng.random() > 0.08 else 0.0,
        texture_seed=int(rng.integers(2**31)),
        moles=int(rng.integers(0, 6)),
    )


@dataclass(frozen=True)
class Expression:
    smile: float = 0.0  # 0 neutral, 1 full smile


NEUTRAL = Expression(0.0)
SMILE = Expression(1.0)


def _gauss(d2: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * d2)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


class Head:
    """The surface and albedo of one subject with one expression."""

    def __init__(self, p: SubjectParams, expr: Expression = NEUTRAL):
        self.p = p
        self.e = expr
        s = expr.smile
        self.v_eye = p.eye_level
        self.v_nose = p.eye_level - p.nose_length
        self.v_mouth = self.v_nose - p.mouth_drop + 0.01 * s
        self.v_chin = self.v_mouth - p.chin_drop
        self.mouth_w = p.mouth_width * (1 + 0.15 * s)
        self.eye_open = p.eye_open * (1 - 0.25 * s)
        rng = np.random.default_rng(p.texture_seed)
        # subject-specific fine texture: random low-amplitude waves in (theta, phi)
        self._tex_k = rng.normal(0, 1, (12, 2)) * np.array([14.0, 14.0])
        self._tex_phase = rng.uniform(0, 2 * np.pi, 12)
        self._tex_amp = rng.uniform(0.01, 0.035, 12)
        self._moles = np.column_stack(
            [rng.uniform(-0.7, 0.7, p.moles), rng.uniform(self.v_chin + 0.1, p.eye_level + 0.3, p.moles)]
        )

    # ---------------------------------------------------------------- shape
    def mouth_line(self, u: np.ndarray) -> np.ndarray:
        """Elevation of the lip junction: corners rise when smiling."""
        t = np.clip(u / self.mouth_w, -1.2, 1.2)
        return self.v_mouth + (0.05 * self.e.smile - 0.008) * t**2

    def radius(self, th: np.ndarray, ph: np.ndarray) -> np.ndarray:
        p, s = self.p, self.e.smile
        cp, sp = np.cos(ph), np.sin(ph)
        below = ph < 0
        half_h = np.where(below, p.height_down, p.height_up)
        # lower face narrows towards the chin; the mandible angle can flare
        lower = _smoothstep(-sp / 0.9)
        width = p.width * (1 - p.jaw_taper * lower**2.2) + p.jaw_width * _gauss(((ph + 0.55) / 0.15) ** 2)
        front = np.clip(np.cos(th), 0, 1)
        depth = p.depth * (1 - p.forehead_slope * _smoothstep(sp / 0.8) * front)
        # back of the skull is rounder and does not follow the chin down
        back_h = np.where(below, 0.85, p.height_up)
        half_h = np.where(np.cos(th) < 0, half_h + (back_h - half_h) * np.clip(-np.cos(th), 0, 1), half_h)
        x, y, z = cp * np.sin(th), sp, cp * np.cos(th)
        r = 1.0 / np.sqrt((x / width) ** 2 + (y / half_h) ** 2 + (z / depth) ** 2)

        u, v = th, ph
        d = np.zeros_like(r)
        # eye sockets and eyeballs
        for side in (-1, 1):
            du = u - side * p.eye_spacing
            d -= p.eye_depth * _gauss((du / 0.14) ** 2 + ((v - self.v_eye - 0.01) / 0.085) ** 2)
            d += 0.6 * p.eye_depth * _gauss((du / 0.075) ** 2 + ((v - self.v_eye) / 0.06) ** 2)
            # cheekbones, raised by a smile
            d += (p.cheekbone + 0.025 * s) * _gauss(
                ((u - side * p.cheek_spacing) / 0.13) ** 2 + ((v - self.v_eye + 0.2 - 0.03 * s) / 0.11) ** 2
            )
            # ears: an outward flap at the side of the head
            du_ear = (u - side * (np.pi / 2 - 0.06)) / (0.11 * p.ear_size)
            dv_ear = (v - self.v_eye - p.ear_height) / (0.2 * p.ear_size)
            d += p.ear_out * _smoothstep((1 - (du_ear**2 + dv_ear**2)) / 0.5)
        # brow ridge
        d += p.brow_ridge * _gauss(((v - self.v_eye - 0.14) / 0.06) ** 2) * _smoothstep((0.62 - np.abs(u)) / 0.2)
        # nose: a ridge that grows towards the tip and falls away under it
        span = self.v_eye + 0.02 - self.v_nose
        t = (self.v_eye + 0.02 - v) / span
        rise = np.where(t <= 1, np.clip(t, 0, 1) ** 1.4, _gauss(((t - 1) * span / 0.045) ** 2))
        nw = 0.45 * p.nose_width + 0.55 * p.nose_width * np.clip(t, 0, 1)
        ridge = p.nose_bridge + (p.nose_projection - p.nose_bridge) * rise
        d += ridge * _gauss((u / nw) ** 2) * (t > -0.05) * _smoothstep((t + 0.05) / 0.15)
        d += p.nose_tip_round * _gauss((u / (0.6 * p.nose_width)) ** 2 + ((v - self.v_nose - 0.01) / 0.04) ** 2)
        for side in (-1, 1):  # alae
            d += 0.05 * _gauss(((u - side * 0.85 * p.nose_width) / 0.04) ** 2 + ((v - self.v_nose - 0.015) / 0.035) ** 2)
        # lips around the (possibly smiling) mouth line
        ml = self.mouth_line(u)
        across = _smoothstep((self.mouth_w * 1.05 - np.abs(u)) / (0.35 * self.mouth_w))
        d += p.lip_upper * _gauss(((v - ml - 0.022) / 0.018) ** 2) * across
        d += p.lip_lower * _gauss(((v - ml + 0.03) / 0.022) ** 2) * across
        d -= (0.012 + 0.012 * s) * _gauss(((v - ml) / 0.008) ** 2) * across
        d += 0.03 * _gauss((u / 0.35) ** 2 + ((v - ml) / 0.1) ** 2)  # muzzle
        # chin
        d += p.chin_projection * _gauss((u / 0.22) ** 2 + ((v - self.v_chin - 0.08) / 0.1) ** 2)
        # hair volume
        d += p.hair_volume * self.hair_mask(th, ph, soft=0.1)
        return r + d

    # ------------------------------------------------------------- appearance
    def hairline(self, th: np.ndarray) -> np.ndarray:
        p = self.p
        a = np.abs(th)
        knots = [0.0, 0.5, 1.0, 1.3, 1.42, 1.75, 2.3, np.pi]
        vals = [
            self.v_eye + p.hairline,
            self.v_eye + p.hairline + p.hair_recede * 0.5,
            self.v_eye + 0.32 + p.hair_recede * 0.4,
            self.v_eye - 0.02,
            self.v_eye + 0.22,
            self.v_eye + 0.22,
            -0.45,
            -0.6,
        ]
        return np.interp(a, knots, vals)

    def hair_mask(self, th: np.ndarray, ph: np.ndarray, soft: float = 0.03) -> np.ndarray:
        if self.p.hair_volume == 0.0 and self.p.hairline > 0.6:
            return np.zeros_like(th)
        return _smoothstep((ph - self.hairline(th)) / soft)

    def albedo(self, th: np.ndarray, ph: np.ndarray) -> np.ndarray:
        p, s = self.p, self.e.smile
        u, v = th, ph
        skin = np.asarray(p.skin)
        tex = np.zeros_like(u)
        for k, ph0, a in zip(self._tex_k, self._tex_phase, self._tex_amp):
            tex += a * np.sin(k[0] * u + k[1] * v + ph0)
        col = skin[None, :] * (1 + tex)[:, None]
        # blush on the cheeks, a darker upper lip area
        for side in (-1, 1):
            g = _gauss(((u - side * 0.42) / 0.15) ** 2 + ((v - self.v_eye + 0.24) / 0.1) ** 2)
            col = col * (1 - p.blush * g[:, None] * np.array([0.0, 0.5, 0.6]))
        for m in self._moles:
            g = _gauss(((u - m[0]) / 0.012) ** 2 + ((v - m[1]) / 0.012) ** 2)
            col = col * (1 - 0.55 * g[:, None])
        # lips
        ml = self.mouth_line(u)
        inside_w = _smoothstep((self.mouth_w - np.abs(u)) / 0.03)
        upper = _smoothstep((0.035 - np.abs(v - ml - 0.018)) / 0.01) * _smoothstep(
            (self.mouth_w * (1 - 0.25 * ((v - ml) / 0.04)) - np.abs(u)) / 0.02
        )
        lower = _smoothstep((0.04 - np.abs(v - ml + 0.028)) / 0.012)
        lip = np.clip(np.maximum(upper, lower) * inside_w, 0, 1)
        lip_col = skin * np.array([0.85, 0.55, 0.55]) * (1 - p.lip_tint) + np.array([0.62, 0.25, 0.28]) * p.lip_tint
        col = col * (1 - lip[:, None]) + lip_col[None, :] * lip[:, None]
        # mouth opening: dark line, teeth when smiling
        # lines thinner than the sampling pitch (about 0.012) alias into stripes: keep them wider
        gap = 0.006 + 0.012 * s
        opening = _smoothstep((gap - np.abs(v - ml)) / 0.01) * inside_w
        mouth_col = np.array([0.82, 0.80, 0.74]) if s > 0 else np.array([0.25, 0.10, 0.10])
        col = col * (1 - opening[:, None]) + mouth_col[None, :] * opening[:, None]
        # nostrils
        for side in (-1, 1):
            g = _gauss(((u - side * 0.45 * p.nose_width) / 0.022) ** 2 + ((v - self.v_nose + 0.035) / 0.016) ** 2)
            col = col * (1 - 0.75 * g[:, None])
        # eyes: almond opening with sclera, iris, pupil, a dark lid line and the brow above
        for side in (-1, 1):
            du = u - side * p.eye_spacing
            dv = v - self.v_eye
            t = np.clip(1 - (du / p.eye_width) ** 2, 0, 1)
            half_open = self.eye_open * np.sqrt(t)
            almond = _smoothstep((half_open - np.abs(dv + 0.004 * (du / p.eye_width))) / 0.006) * (t > 0)
            rr = np.sqrt(du**2 + (dv * 1.0) ** 2)
            iris = _smoothstep((0.042 - rr) / 0.006)
            pupil = _smoothstep((0.017 - rr) / 0.004)
            eye = np.array([0.86, 0.84, 0.80])[None, :] * (1 - iris[:, None]) + np.asarray(p.iris)[None, :] * iris[:, None]
            eye = eye * (1 - 0.9 * pupil[:, None])
            col = col * (1 - almond[:, None]) + eye * almond[:, None]
            lid = _smoothstep((0.008 - np.abs(dv - half_open - 0.004)) / 0.01) * _smoothstep(t / 0.15)
            col = col * (1 - 0.8 * lid[:, None])
            socket = _gauss((du / 0.12) ** 2 + ((dv - 0.04) / 0.05) ** 2)
            col = col * (1 - 0.12 * socket[:, None])
            # eyebrow: an arched band, thinner towards the temple
            bu = du * side  # positive towards the temple
            centre = self.v_eye + p.brow_height + p.brow_arch * (1 - ((bu - 0.02) / 0.14) ** 2)
            thick = p.brow_thickness * (1 - 0.4 * np.clip(bu / 0.16, 0, 1))
            along = _smoothstep((0.16 - np.abs(bu - 0.01)) / 0.03)
            brow = _smoothstep((thick - np.abs(v - centre)) / 0.008) * along
            col = col * (1 - brow[:, None]) + np.asarray(p.brow_colour)[None, :] * brow[:, None]
        hair = self.hair_mask(th, ph)
        hair_col = np.asarray(p.hair_colour)[None, :] * (1 + 0.08 * np.sin(60 * u + 9 * v))[:, None]
        col = col * (1 - hair[:, None]) + hair_col * hair[:, None]
        return np.clip(col, 0, 1)

    def appearance(self, th, ph):
        a = self.albedo(th.ravel(), ph.ravel()).reshape(*th.shape, 3)
        return a, np.ones(th.shape)

    # ------------------------------------------------------------- landmarks
    def landmark_angles(self) -> tuple[np.ndarray, np.ndarray]:
        """(theta, phi) of the iBUG-68 points, image-left first in a frontal view."""
        p = self.p
        th, ph = [], []
        # jaw 0-16: from the subject's right ear round the chin to the left ear
        for a in np.linspace(-np.pi / 2, np.pi / 2, 17):
            th.append(1.25 * np.sin(a))
            ph.append(self.v_eye - 0.12 + (self.v_chin - self.v_eye + 0.12) * np.cos(a) ** 1.3)
        # brows 17-26 (the subject's right brow is on the image's left)
        for side in (-1, 1):
            pts = np.linspace(0.15, -0.11, 5) if side == -1 else np.linspace(-0.11, 0.15, 5)
            for bu in pts:
                th.append(side * (p.eye_spacing + bu))
                ph.append(self.v_eye + p.brow_height + p.brow_arch * (1 - ((bu - 0.02) / 0.14) ** 2))
        # nose bridge 27-30 down to the tip
        for t in np.linspace(0, 1, 4):
            th.append(0.0)
            ph.append(self.v_eye + 0.02 - t * (self.v_eye + 0.02 - self.v_nose))
        # nose base 31-35
        for f in (-1, -0.5, 0, 0.5, 1):
            th.append(f * 0.75 * p.nose_width)
            ph.append(self.v_nose - 0.045 + 0.01 * abs(f))
        # eyes 36-47: each starts at its image-left corner, runs over the upper lid, back under the lower lid
        for side in (-1, 1):
            for lu, lv in [(-1.0, 0.0), (-0.4, 0.85), (0.4, 0.85), (1.0, 0.0), (0.4, -0.85), (-0.4, -0.85)]:
                th.append(side * p.eye_spacing + lu * p.eye_width)
                ph.append(self.v_eye + lv * self.eye_open * np.sqrt(max(1 - lu**2, 0.0)))
        th_arr, ph_arr = np.array(th), np.array(ph)
        # lips outer 48-59 and inner 60-67
        outer = []
        for a in np.linspace(np.pi, -np.pi, 13)[:-1]:
            uu = np.cos(a) * self.mouth_w
            top = np.sin(a) > 0
            dv = (0.04 if top else -0.055) * abs(np.sin(a))
            outer.append((uu, float(self.mouth_line(np.array(uu))) + dv))
        inner = []
        for a in np.linspace(np.pi, -np.pi, 9)[:-1]:
            uu = np.cos(a) * self.mouth_w * 0.8
            dv = (0.004 + 0.012 * self.e.smile) * np.sign(np.sin(a)) * abs(np.sin(a))
            inner.append((uu, float(self.mouth_line(np.array(uu))) + dv))
        lips = np.array(outer + inner)
        return np.concatenate([th_arr, lips[:, 0]]), np.concatenate([ph_arr, lips[:, 1]])

    def iris_angles(self) -> tuple[np.ndarray, np.ndarray]:
        """Eye centres (iris), image-left eye first."""
        return np.array([-self.p.eye_spacing, self.p.eye_spacing]), np.array([self.v_eye, self.v_eye])


def surface_points(head: Head, th: np.ndarray, ph: np.ndarray) -> np.ndarray:
    r = head.radius(th, ph)
    cp = np.cos(ph)
    return np.stack([r * cp * np.sin(th), r * np.sin(ph), r * cp * np.cos(th)], axis=-1)
