"""SynthPIE subjects: a parametric 3D head with its own face, hair and skin.

The head is a star-shaped surface around its centre: for every direction
(theta, phi) a radius.  theta is the azimuth (0 = straight ahead, positive
towards the subject's left), phi the elevation (positive up).  Head frame:
x to the subject's left, y up, z forward; one unit is about 9 cm.

The base is an egg (different half-heights above and below, a jaw that
narrows); facial structure is added as smooth radial relief (eyes, brow
ridge, cheekbones, nose with its bridge, hump and tip, lips, chin, ears,
age folds), hair as a radial thickness (hair.py), so identity lives in the
3D shape, the profile silhouette included.  Albedo is painted in the same
(theta, phi) coordinates: skin with its blotches, freckles, moles and age
lines, eyes with their lids and folds, brows, lips, facial and scalp hair.
Colours come from palette.py and are shared by many subjects; what tells
people apart is structure and detail.

Everything is drawn from the subject's own random stream (``sample_subject``);
no camera, light or background depends on it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from frontalize.synthpie import hair as hairs
from frontalize.synthpie import palette
from frontalize.synthpie.noise import NoiseField

IRIS_RADIUS = 0.055  # radians; irises vary little between adults, eye openings do


@dataclass(frozen=True)
class SubjectParams:
    # who: latent traits that make the other draws hang together like a population
    male: bool
    age: float  # 0 young adult ... 1 elderly
    # skull
    width: float  # half-width of the skull (x)
    height_up: float  # centre to vertex
    height_down: float  # centre to chin
    depth: float  # centre to face (z)
    jaw_taper: float  # how much the lower face narrows
    chin_forward: float  # superellipse exponent of the lower head in profile: 2 receding ... 3.4 strong chin
    jaw_width: float  # widening at the mandible angle
    forehead_slope: float
    cheek_fullness: float
    # eyes (angles in radians, sizes in head units)
    eye_level: float
    eye_spacing: float
    eye_width: float  # half-width of the opening
    eye_open: float  # height of the upper lid above the eye's axis: roundness
    eye_tilt: float  # rise of the eye's axis towards the temple (canthal tilt)
    lid_fold: float  # 0: hooded lid, no crease ... 1: a high, deep crease
    lower_lid: float  # lower lid depth relative to the upper lid
    eye_depth: float
    # brows
    brow_height: float
    brow_thickness: float
    brow_arch: float
    brow_peak: float  # where along the brow the arch peaks (0 inner end, 1 tail)
    brow_slant: float  # the inner end sits this much higher than the tail
    brow_length: float
    brow_density: float
    brow_ridge: float
    # cheeks
    cheekbone: float
    cheekbone_height: float
    cheek_spacing: float
    # nose
    nose_length: float
    nose_width: float  # half-width of the alae: nostril width
    nose_projection: float
    nose_bridge: float  # height of the root between the eyes
    nose_hump: float
    nose_tip_round: float
    nose_tip_lift: float  # upturned (positive) or drooping tip
    # mouth and chin
    mouth_drop: float
    mouth_width: float
    lip_upper: float
    lip_lower: float
    chin_projection: float
    chin_drop: float
    chin_width: float
    chin_cleft: float
    # ears
    ear_size: float
    ear_out: float
    ear_height: float
    ear_aspect: float  # taller (above 1) or rounder
    # asymmetry: the subject's left half minus the right
    asym_eye: float
    asym_brow: float
    asym_mouth: float
    asym_nose: float
    asym_ear: float
    # hair (scalp and face)
    hair: hairs.Hair
    # colour
    skin_tone: float  # 0 light ... 1 dark, on palette.SKIN_RAMP
    skin: tuple  # RGB in [0, 1]
    hair_family: str
    hair_colour: tuple
    brow_colour: tuple
    beard_colour: tuple
    iris: tuple
    lip_tint: float
    blush: float
    # skin detail
    freckles: float  # 0: none ... 1: many
    moles: int
    age_lines: float
    texture_seed: int

    def as_dict(self) -> dict:
        return asdict(self)


def sample_subject(rng: np.random.Generator) -> SubjectParams:
    """Draw one subject.  Structural ranges are wide so that faces differ visibly at 128 px."""
    u = rng.uniform
    male = bool(rng.random() < 0.65)  # Multi-PIE's subjects are about two thirds men
    m = float(male)
    age = float(rng.beta(1.6, 3.2))
    tone = palette.draw_tone(rng)
    skin = palette.skin_colour(tone, u(-0.3, 0.3))
    hair_family, hair_colour = palette.draw_hair_colour(rng, tone, age)
    brow = hair_colour * (0.75 if hair_family != "grey" else 0.9)
    beard = hair_colour * 0.9
    freckled = tone < 0.3 and rng.random() < (0.65 if hair_family == "red" else 0.2)

    def tup(x):
        return tuple(float(c) for c in np.clip(x, 0, 1))

    return SubjectParams(
        male=male,
        age=age,
        width=u(0.68, 0.83) + 0.02 * m,
        height_up=u(0.95, 1.12),
        height_down=u(1.05, 1.35),
        depth=u(0.88, 1.04),
        jaw_taper=u(0.05, 0.40) - 0.06 * m,
        chin_forward=u(2.3, 3.2) + 0.15 * m,
        jaw_width=u(-0.06, 0.09) + 0.03 * m,
        forehead_slope=u(0.0, 0.28),
        cheek_fullness=u(0.0, 0.07),
        eye_level=u(-0.06, 0.04),
        eye_spacing=u(0.29, 0.38),
        eye_width=u(0.13, 0.165),
        eye_open=u(0.034, 0.060),
        eye_tilt=u(-0.12, 0.22),
        lid_fold=u(0.0, 1.0),
        lower_lid=u(0.5, 0.85),
        eye_depth=u(0.04, 0.11),
        brow_height=u(0.12, 0.20),
        brow_thickness=u(0.018, 0.042) + 0.006 * m,
        brow_arch=u(0.0, 0.05),
        brow_peak=u(0.35, 0.85),
        brow_slant=u(-0.03, 0.03),
        brow_length=u(0.85, 1.15),
        brow_density=u(0.55, 1.0),
        brow_ridge=u(0.0, 0.04) + 0.025 * m,
        cheekbone=u(0.0, 0.07),
        cheekbone_height=u(0.14, 0.26),
        cheek_spacing=u(0.40, 0.54),
        nose_length=u(0.21, 0.31),
        nose_width=u(0.07, 0.13),
        nose_projection=u(0.10, 0.22),
        nose_bridge=u(0.01, 0.09),
        nose_hump=u(0.02, 0.05) if rng.random() < 0.35 else u(0.0, 0.01),
        nose_tip_round=u(0.015, 0.06),
        nose_tip_lift=u(-0.3, 0.6),
        mouth_drop=u(0.28, 0.38),
        mouth_width=u(0.18, 0.28),
        lip_upper=u(0.012, 0.048) - 0.006 * m,
        lip_lower=u(0.02, 0.06),
        chin_projection=u(0.0, 0.09),
        chin_drop=u(0.28, 0.40),
        chin_width=u(0.14, 0.30),
        chin_cleft=u(0.01, 0.025) if rng.random() < 0.15 else 0.0,
        ear_size=u(0.8, 1.25),
        ear_out=u(0.06, 0.24),
        ear_height=u(-0.18, -0.04),
        ear_aspect=u(0.75, 1.25),
        asym_eye=float(rng.normal(0, 0.008)),
        asym_brow=float(rng.normal(0, 0.012)),
        asym_mouth=float(rng.normal(0, 0.01)),
        asym_nose=float(rng.normal(0, 0.02)),
        asym_ear=float(rng.normal(0, 0.02)),
        hair=hairs.sample_hair(rng, male, age),
        skin_tone=tone,
        skin=tup(skin),
        hair_family=hair_family,
        hair_colour=tup(hair_colour),
        brow_colour=tup(brow),
        beard_colour=tup(beard),
        iris=tup(palette.draw_iris(rng, tone)),
        lip_tint=u(0.3, 0.5),
        blush=u(0.0, 0.06),
        freckles=u(0.3, 1.0) if freckled else 0.0,
        moles=int(rng.poisson(1.2)),
        age_lines=age * u(0.5, 1.0),
        texture_seed=int(rng.integers(2**31)),
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


def _over(col: np.ndarray, colour, alpha: np.ndarray) -> np.ndarray:
    """Paint ``colour`` over ``col`` with opacity ``alpha`` (per point)."""
    a = alpha[:, None]
    return col * (1 - a) + np.asarray(colour)[None, :] * a


class Head:
    """The surface and appearance of one subject with one expression."""

    def __init__(self, p: SubjectParams, expr: Expression = NEUTRAL):
        self.p = p
        self.e = expr
        s = expr.smile
        self.v_eye = p.eye_level
        self.v_brow = p.eye_level + p.brow_height
        self.v_nose = p.eye_level - p.nose_length
        self.v_mouth = self.v_nose - p.mouth_drop + 0.01 * s
        self.v_chin = self.v_mouth - p.chin_drop
        self.mouth_w = p.mouth_width * (1 + 0.15 * s)
        self.eye_open = p.eye_open * (1 - 0.25 * s)
        rng = np.random.default_rng(p.texture_seed)
        self._blotches, self._pores, self._freckles, self._strands, self._curls = (NoiseField(rng) for _ in range(5))
        n = p.moles
        self._moles = np.column_stack(  # theta, phi, size
            [rng.uniform(-0.75, 0.75, n), rng.uniform(self.v_chin + 0.05, self.v_brow + 0.2, n),
             rng.uniform(0.008, 0.016, n)]
        )

    # ------------------------------------------------------------ the face's layout
    def eye_level_of(self, side: int) -> float:
        """Elevation of an eye's centre: side -1 is the subject's right (the image's left in a frontal view)."""
        return self.v_eye + side * self.p.asym_eye

    def mouth_line(self, u: np.ndarray) -> np.ndarray:
        """Elevation of the lip junction: corners rise when smiling, and one may sit higher."""
        t = np.clip(u / self.mouth_w, -1.2, 1.2)
        return self.v_mouth + (0.05 * self.e.smile - 0.008) * t**2 + self.p.asym_mouth * t

    def _eye_frame(self, side: int, u: np.ndarray, v: np.ndarray):
        """Coordinates along the eye (towards the temple, in eye half-widths) and across it (up)."""
        x = side * (u - side * self.p.eye_spacing)
        y = v - self.eye_level_of(side) - self.p.eye_tilt * x
        return x / self.p.eye_width, y

    def _lids(self, xn: np.ndarray):
        """Heights of the upper and lower lid margins above the eye's axis."""
        t = np.sqrt(np.clip(1 - xn**2, 0, 1))
        upper = self.eye_open * t * (1 - 0.15 * xn)
        lower = -self.eye_open * self.p.lower_lid * t * (1 + 0.1 * xn)
        return upper, lower

    def _brow_line(self, side: int, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(theta, phi) of a brow's centre line at s = 0 (inner end) ... 1 (tail)."""
        p = self.p
        inner, outer = -p.eye_width - 0.02, (p.eye_width + 0.07) * p.brow_length
        x = inner + (outer - inner) * s
        peak = p.brow_peak
        arch = np.where(s < peak, 1 - ((s - peak) / peak) ** 2, 1 - ((s - peak) / (1 - peak)) ** 2)
        v = self.v_brow + side * p.asym_brow + p.brow_arch * arch + p.brow_slant * (1 - s) - 0.01 * s
        return side * (x + p.eye_spacing), v

    def _nose_ridge(self, u, v):
        """Relief of the nose: a ridge from the root to the tip, with a hump, and its fall-off under the tip."""
        p = self.p
        root = self.v_eye + 0.02
        span = root - self.v_nose
        t = (root - v) / span  # 0 at the root, 1 at the tip
        u = u - p.asym_nose * np.clip(t, 0, 1)  # a slightly deviated nose
        under = 0.045 * (1 - 0.4 * p.nose_tip_lift)  # an upturned tip falls away more steeply
        along = p.nose_bridge + (p.nose_projection - p.nose_bridge) * np.clip(t, 0, 1) ** 1.4
        ridge = np.where(t <= 1, along, p.nose_projection * _gauss(((t - 1) * span / under) ** 2))
        ridge = ridge + p.nose_hump * _gauss(((t - 0.5) / 0.15) ** 2)
        nw = 0.45 * p.nose_width + 0.55 * p.nose_width * np.clip(t, 0, 1)
        d = ridge * _gauss((u / nw) ** 2) * _smoothstep((t + 0.05) / 0.15)
        tip_v = self.v_nose + 0.01 + 0.015 * p.nose_tip_lift
        d += p.nose_tip_round * _gauss((u / (0.6 * p.nose_width)) ** 2 + ((v - tip_v) / 0.04) ** 2)
        for side in (-1, 1):  # alae
            wing = side * 0.85 * p.nose_width
            d += 0.05 * _gauss(((u - wing) / 0.04) ** 2 + ((v - self.v_nose - 0.015) / 0.035) ** 2)
        return d

    # ---------------------------------------------------------------- shape
    def skull(self, th: np.ndarray, ph: np.ndarray) -> np.ndarray:
        """The bare head: an egg with a jaw, before any feature or hair."""
        p = self.p
        cp, sp = np.cos(ph), np.sin(ph)
        below = ph < 0
        half_h = np.where(below, p.height_down, p.height_up)
        # the lower face narrows towards the chin; the mandible angle can flare; full cheeks widen it
        lower = _smoothstep(-sp / 0.9)
        width = (
            p.width * (1 - p.jaw_taper * lower**2.2)
            + p.jaw_width * _gauss(((ph + 0.55) / 0.15) ** 2)
            + p.cheek_fullness * _gauss(((ph - self.v_mouth - 0.25) / 0.2) ** 2)
        )
        front = np.clip(np.cos(th), 0, 1)
        depth = p.depth * (1 - p.forehead_slope * _smoothstep(sp / 0.8) * front)
        # the back of the skull is rounder and does not follow the chin down
        back_h = np.where(below, 0.85, p.height_up)
        half_h = np.where(np.cos(th) < 0, half_h + (back_h - half_h) * np.clip(-np.cos(th), 0, 1), half_h)
        x, y, z = cp * np.sin(th), sp, cp * np.cos(th)
        # seen from the side the lower head is a superellipse, not an ellipse: the chin comes forward
        n = 2 + (p.chin_forward - 2) * _smoothstep(-sp / 0.5)
        profile = (np.abs(y / half_h) ** n + np.abs(z / depth) ** n) ** (2 / n)
        return 1.0 / np.sqrt((x / width) ** 2 + profile)

    def _face_relief(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        p, s = self.p, self.e.smile
        d = self._nose_ridge(u, v)
        for side in (-1, 1):
            xn, y = self._eye_frame(side, u, v)
            du = xn * p.eye_width
            d -= p.eye_depth * _gauss((du / 0.16) ** 2 + ((y - 0.01) / 0.09) ** 2)  # socket
            d += 0.6 * p.eye_depth * _gauss((du / 0.085) ** 2 + (y / 0.06) ** 2)  # eyeball
            # the skin fold above the upper lid: a hooded lid overhangs more
            d += 0.012 * (1.3 - p.lid_fold) * _gauss((du / 0.11) ** 2 + ((y - self.eye_open - 0.018) / 0.015) ** 2)
            # cheekbones, raised by a smile
            below_bone = (v - self.v_eye + p.cheekbone_height - 0.03 * s) / 0.11
            d += (p.cheekbone + 0.025 * s) * _gauss(((u - side * p.cheek_spacing) / 0.13) ** 2 + below_bone**2)
            # cheek fullness in front, and the fold from the nose to the mouth corner with age and smiles
            d += p.cheek_fullness * _gauss(((u - side * 0.5) / 0.2) ** 2 + ((v - self.v_mouth - 0.12) / 0.15) ** 2)
            fold = self._nasolabial(side, u, v)
            d -= (0.004 + 0.012 * p.age_lines + 0.008 * s) * fold
        d += p.brow_ridge * _gauss(((v - self.v_eye - 0.14) / 0.06) ** 2) * _smoothstep((0.62 - np.abs(u)) / 0.2)
        # lips round the (possibly smiling) mouth line
        ml = self.mouth_line(u)
        across = _smoothstep((self.mouth_w * 1.05 - np.abs(u)) / (0.35 * self.mouth_w))
        d += p.lip_upper * _gauss(((v - ml - 0.022) / 0.018) ** 2) * across
        d += p.lip_lower * _gauss(((v - ml + 0.03) / 0.022) ** 2) * across
        d -= (0.012 + 0.012 * s) * _gauss(((v - ml) / 0.008) ** 2) * across
        d += 0.03 * _gauss((u / 0.35) ** 2 + ((v - ml) / 0.1) ** 2)  # muzzle
        # chin, perhaps cleft
        chin = _gauss((u / p.chin_width) ** 2 + ((v - self.v_chin - 0.08) / 0.1) ** 2)
        d += p.chin_projection * chin - p.chin_cleft * _gauss((u / 0.02) ** 2) * chin
        return d

    def _nasolabial(self, side: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """A line from beside the nose's wing to beyond the mouth corner (0 ... 1 on the line)."""
        top_u, top_v = 1.15 * self.p.nose_width + 0.03, self.v_nose + 0.01
        low_u, low_v = self.mouth_w + 0.05, self.v_mouth - 0.07
        t = np.clip((top_v - v) / (top_v - low_v), 0, 1)
        along = _smoothstep((v - low_v + 0.02) / 0.04) * _smoothstep((top_v - v + 0.02) / 0.04)
        return _gauss(((side * u - (top_u + (low_u - top_u) * t)) / 0.018) ** 2) * along

    def _ears(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Ears: an outward flap at each side of the head with a hollow bowl inside its rim."""
        p = self.p
        d = np.zeros_like(u)
        for side in (-1, 1):
            du = (u - side * (np.pi / 2 - 0.06)) / (0.11 * p.ear_size / np.sqrt(p.ear_aspect))
            dv = (v - self.v_eye - p.ear_height - side * p.asym_ear) / (0.2 * p.ear_size * np.sqrt(p.ear_aspect))
            r2 = du**2 + dv**2
            d += (p.ear_out + side * 0.3 * p.asym_ear) * _smoothstep((1 - r2) / 0.5)
            d -= 0.35 * p.ear_out * _smoothstep((0.45 - ((du + side * 0.15) ** 2 + (dv + 0.1) ** 2)) / 0.3)
        return d

    def _regions(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices of the points near the face, near the ears, and where facial hair can grow.

        Features are evaluated only there: most of the sphere is scalp and skull.
        """
        a = np.abs(u)
        face = np.flatnonzero((a < 1.05) & (v > self.v_chin - 0.45) & (v < self.v_brow + 0.25))
        ears = np.flatnonzero((a > 1.2) & (a < 1.95) & (np.abs(v - self.v_eye + 0.1) < 0.45))
        lower = np.flatnonzero((a < 1.45) & (v < self.v_nose) & (v > self.v_chin - 0.5))
        return face, ears, lower

    def radius(self, th: np.ndarray, ph: np.ndarray) -> np.ndarray:
        th, ph = np.broadcast_arrays(np.asarray(th, float), np.asarray(ph, float))
        u, v = th.ravel(), ph.ravel()
        h = self.p.hair
        r = self.skull(u, v)
        face, ears, lower = self._regions(u, v)
        r[face] += self._face_relief(u[face], v[face])
        if not h.covers_ears:  # hair that falls over the ears hides them
            r[ears] += self._ears(u[ears], v[ears])
        if h.facial not in ("none", "stubble"):
            fu, fv = u[lower], v[lower]
            r[lower] += hairs.facial_thickness(h, fu, fv, self, hairs.facial_cover(h, fu, fv, self))
        curls = self._curls(u, v, 0.09) if h.curl else 0.5
        return hairs.scalp_radius(h, u, v, r, self, curls).reshape(th.shape)

    # ------------------------------------------------------------- appearance
    def appearance(self, th: np.ndarray, ph: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Albedo (..., 3) in [0, 1], gloss (...), the strength of the specular highlight, and skin (...), how much
        of the point is bare skin rather than scalp hair (where the renderer's per-image skin texture goes)."""
        th, ph = np.broadcast_arrays(np.asarray(th, float), np.asarray(ph, float))
        u, v = th.ravel(), ph.ravel()
        p, h = self.p, self.p.hair
        skin = np.asarray(p.skin)
        blotch = self._blotches(u, v, 0.16) - 0.5
        pores = self._pores(u, v, 0.02) - 0.5
        col = skin[None, :] * (1 + 0.07 * blotch[:, None] * np.array([0.6, 1.0, 1.1]) + 0.05 * pores[:, None])
        gloss = np.ones_like(u)
        face, ears, lower = self._regions(u, v)
        col[face], gloss[face] = self._paint_face(u[face], v[face], col[face], gloss[face])
        col[ears] = self._paint_ears(u[ears], v[ears], col[ears])
        if h.facial != "none":
            col[lower], gloss[lower] = self._paint_facial_hair(u[lower], v[lower], col[lower], gloss[lower])
        hair = hairs.scalp_cover(h, u, v, self)
        if h.curl:
            strands = self._strands(u, v, 0.035)
        elif h.bun:  # hair pulled back: strands run round the head
            strands = self._strands(u, v, 0.15, 0.02)
        else:  # strands fall from the crown
            strands = self._strands(u, v, 0.022, 0.15)
        hair_col = np.asarray(p.hair_colour)[None, :] * (0.7 + 0.6 * strands)[:, None]
        col = col * (1 - 0.25 * _smoothstep(hair / 0.5) * (1 - hair))[:, None]  # roots darken the skin at the edge
        col = col * (1 - hair[:, None]) + hair_col * hair[:, None]
        gloss = gloss * (1 - hair) + (0.2 if h.curl else 0.35) * hair
        shape = th.shape
        return np.clip(col, 0, 1).reshape(*shape, 3), gloss.reshape(shape), (1 - hair).reshape(shape)

    def _paint_face(self, u, v, col, gloss):
        p, s = self.p, self.e.smile
        skin = np.asarray(p.skin)
        a = np.abs(u)
        # blush on the cheeks, a redder nose tip
        for side in (-1, 1):
            g = _gauss(((u - side * 0.42) / 0.15) ** 2 + ((v - self.v_eye + 0.24) / 0.1) ** 2)
            col = col * (1 - p.blush * g[:, None] * np.array([0.0, 0.5, 0.6]))
        tip = _gauss((u / 0.08) ** 2 + ((v - self.v_nose) / 0.06) ** 2)
        col = col * (1 - 0.06 * tip[:, None] * np.array([0, 1, 1]))
        col = self._paint_skin_detail(u, v, col)
        # lips
        ml = self.mouth_line(u)
        t = np.clip(u / self.mouth_w, -1, 1)
        upper_h = (0.014 + 0.5 * p.lip_upper) * (1 - 0.3 * t**2) - 0.006 * _gauss((u / 0.03) ** 2)
        lower_h = (0.016 + 0.6 * p.lip_lower) * np.sqrt(np.clip(1 - t**2, 0, 1))
        inside_w = _smoothstep((self.mouth_w - a) / 0.03)
        upper = _smoothstep((upper_h - (v - ml)) / 0.006) * _smoothstep((v - ml + 0.004) / 0.004)
        lower = _smoothstep((v - ml + lower_h) / 0.008) * _smoothstep((ml - v + 0.004) / 0.004)
        lip = np.clip(np.maximum(upper, lower) * inside_w, 0, 1)
        light = float(np.mean(skin))
        tint = np.array([0.62, 0.25, 0.28]) * (0.55 + 0.45 * light)
        lip_col = skin * np.array([0.85, 0.55, 0.55]) * (1 - p.lip_tint) + tint * p.lip_tint
        col = _over(col, lip_col, lip)
        gloss = gloss + 0.15 * lip
        # mouth opening: a dark line, teeth when smiling
        # lines thinner than the sampling pitch (about 0.02 rad) alias into stripes: keep them wider
        gap = 0.006 + 0.012 * s
        opening = _smoothstep((gap - np.abs(v - ml)) / 0.01) * inside_w
        col = _over(col, [0.82, 0.80, 0.74] if s > 0 else [0.25, 0.10, 0.10], opening)
        # nostrils: an upturned tip shows more of them
        for side in (-1, 1):
            nu = side * 0.45 * p.nose_width + p.asym_nose
            g = _gauss(((u - nu) / (0.022 + 0.008 * p.nose_tip_lift)) ** 2 + ((v - self.v_nose + 0.035) / 0.016) ** 2)
            col = col * (1 - 0.75 * g[:, None])
        for side in (-1, 1):
            col, gloss = self._paint_eye(side, u, v, col, gloss)
            col = self._paint_brow(side, u, v, col)
        gloss = gloss + 0.3 * _gauss((u / 0.12) ** 2 + ((v - self.v_nose) / 0.2) ** 2)  # the shiny T-zone
        return col, gloss

    def _paint_skin_detail(self, u, v, col):
        """Freckles, moles and the lines that come with age."""
        p = self.p
        a = np.abs(u)
        if p.freckles:
            where = _gauss(((a - 0.28) / 0.3) ** 2 + ((v - self.v_nose - 0.06) / 0.16) ** 2)
            spots = _smoothstep((self._freckles(u, v, 0.024) - 1 + 0.33 * p.freckles) / 0.07) * where
            col = col * (1 - spots[:, None] * np.array([0.16, 0.26, 0.34]))
        for mu, mv, size in self._moles:
            g = _gauss(((u - mu) / size) ** 2 + ((v - mv) / size) ** 2)
            col = col * (1 - 0.6 * g[:, None] * np.array([0.8, 0.9, 0.95]))
        if p.age_lines > 0.05:
            k = p.age_lines
            # horizontal forehead lines
            band = (v - self.v_brow - 0.07) / 0.05
            lines = _smoothstep((np.cos(2 * np.pi * band) - 0.75) / 0.25) * (band > -0.2) * (band < 3.2)
            lines *= _smoothstep((0.5 - a) / 0.25)
            col = col * (1 - 0.16 * k * lines[:, None])
            for side in (-1, 1):
                # crow's feet fanning from the outer eye corner, a line under each eye, the nasolabial fold
                cx, cy = side * (self.p.eye_spacing + self.p.eye_width + 0.03), self.eye_level_of(side)
                ang = np.arctan2(v - cy, side * (u - cx))  # 0 towards the temple
                fan = _smoothstep((np.cos(9 * ang) - 0.6) / 0.4) * _gauss(((u - cx) ** 2 + (v - cy) ** 2) / 0.04**2)
                fan *= np.abs(ang) < 0.7
                xn, y = self._eye_frame(side, u, v)
                below_lid = y + self.eye_open * self.p.lower_lid + 0.04 + 0.02 * xn**2
                under = _gauss((below_lid / 0.008) ** 2) * _smoothstep((1 - np.abs(xn)) / 0.5)
                crease = self._nasolabial(side, u, v)
                col = col * (1 - k * (0.15 * fan + 0.12 * under + 0.18 * crease)[:, None])
        return col

    def _paint_eye(self, side, u, v, col, gloss):
        """Sclera, iris and pupil inside the almond; lash line, lid crease and lower lid around it."""
        p = self.p
        xn, y = self._eye_frame(side, u, v)
        upper, lower = self._lids(xn)
        inside = (np.abs(xn) < 1) * _smoothstep((upper - y) / 0.006) * _smoothstep((y - lower) / 0.006)
        rr = np.sqrt((xn * p.eye_width) ** 2 + y**2)
        iris = _smoothstep((IRIS_RADIUS - rr) / 0.006)
        limbus = 1 - 0.35 * _smoothstep((rr - 0.7 * IRIS_RADIUS) / (0.3 * IRIS_RADIUS))
        pupil = _smoothstep((0.018 - rr) / 0.004)
        sclera = np.array([0.84, 0.80, 0.76])[None, :] * (1 - 0.2 * xn**2)[:, None]
        eye = sclera * (1 - iris[:, None]) + np.asarray(p.iris)[None, :] * (iris * limbus)[:, None]
        eye = eye * (1 - 0.9 * pupil[:, None])
        col = col * (1 - inside[:, None]) + eye * inside[:, None]
        gloss = gloss + 2.0 * inside
        along = _smoothstep((1.08 - np.abs(xn)) / 0.1)
        lashes = _smoothstep((0.007 - np.abs(y - upper - 0.002)) / 0.006) * along
        crease_h = upper + 0.008 + 0.03 * p.lid_fold
        crease = _smoothstep((0.006 - np.abs(y - crease_h)) / 0.006) * _smoothstep((0.95 - np.abs(xn)) / 0.3)
        lid = (y > upper) * (y < crease_h) * along
        low = _smoothstep((0.005 - np.abs(y - lower + 0.002)) / 0.005) * along
        darken = 0.8 * lashes + (0.12 + 0.25 * p.lid_fold) * crease + 0.08 * lid + 0.2 * low
        col = col * (1 - np.clip(darken, 0, 0.9)[:, None])
        socket = _gauss(((xn * p.eye_width) / 0.13) ** 2 + ((y - 0.04) / 0.05) ** 2)
        return col * (1 - 0.1 * socket[:, None]), gloss

    def _paint_brow(self, side, u, v, col):
        p = self.p
        # distance to the brow line: sample the line densely and interpolate it at each point's theta
        s = np.linspace(0, 1, 33)
        bu, bv = self._brow_line(side, s)
        order = np.argsort(bu)
        centre = np.interp(u, bu[order], bv[order])
        along = np.interp(u, bu[order], s[order], left=-1.0, right=-1.0)
        thick = p.brow_thickness * (1 - 0.55 * np.clip(along, 0, 1))
        ends = _smoothstep((along + 0.02) / 0.1) * _smoothstep((1 - along) / 0.1)
        hairs_ = 0.7 + 0.6 * self._strands(u, v, 0.012, 0.03)
        brow = _smoothstep((thick - np.abs(v - centre)) / 0.008) * ends * p.brow_density * hairs_
        return _over(col, p.brow_colour, np.clip(brow, 0, 1))

    def _paint_ears(self, u, v, col):
        p = self.p
        for side in (-1, 1):
            du = (u - side * (np.pi / 2 - 0.06)) / (0.11 * p.ear_size / np.sqrt(p.ear_aspect))
            dv = (v - self.v_eye - p.ear_height - side * p.asym_ear) / (0.2 * p.ear_size * np.sqrt(p.ear_aspect))
            bowl = _smoothstep((0.45 - ((du + side * 0.15) ** 2 + (dv + 0.1) ** 2)) / 0.3)
            rim = _gauss(((np.sqrt(du**2 + dv**2) - 0.85) / 0.1) ** 2)
            col = col * (1 - 0.25 * bowl[:, None]) * (1 + 0.05 * rim[:, None] * np.array([1.0, -0.5, -0.5]))
        return col

    def _paint_facial_hair(self, u, v, col, gloss):
        h = self.p.hair
        cover = hairs.facial_cover(h, u, v, self) * h.facial_density
        if h.facial == "stubble":  # short dark dots over the skin
            cover = cover * (0.5 + 0.8 * self._pores(u + 3.0, v, 0.014))
            colour = np.asarray(self.p.beard_colour)[None, :]
        else:
            colour = np.asarray(self.p.beard_colour)[None, :] * (0.8 + 0.4 * self._strands(u, v, 0.02, 0.06))[:, None]
            cover = cover * (0.8 + 0.5 * self._pores(u, v + 2.0, 0.03))  # a wispy edge
        cover = np.clip(cover, 0, 1)[:, None]
        return col * (1 - cover) + colour * cover, gloss * (1 - 0.7 * cover[:, 0])

    # ------------------------------------------------------------- landmarks
    def landmark_angles(self) -> tuple[np.ndarray, np.ndarray]:
        """(theta, phi) of the iBUG-68 points, image-left first in a frontal view."""
        p = self.p
        th, ph = [], []
        # jaw 0-16: from the subject's right ear round the chin to the left ear
        for a in np.linspace(-np.pi / 2, np.pi / 2, 17):
            th.append(1.25 * np.sin(a))
            ph.append(self.v_eye - 0.12 + (self.v_chin - self.v_eye + 0.12) * np.cos(a) ** 1.3)
        # brows 17-26, each from its image-left end (the subject's right brow is on the image's left)
        for side, s in ((-1, np.linspace(1, 0, 5)), (1, np.linspace(0, 1, 5))):
            bu, bv = self._brow_line(side, s)
            th += list(bu)
            ph += list(bv)
        # nose bridge 27-30 down to the tip
        root = self.v_eye + 0.02
        for t in np.linspace(0, 1, 4):
            th.append(p.asym_nose * t)
            ph.append(root - t * (root - self.v_nose))
        # nose base 31-35
        for f in (-1, -0.5, 0, 0.5, 1):
            th.append(f * 0.75 * p.nose_width + p.asym_nose)
            ph.append(self.v_nose - 0.045 + 0.01 * abs(f))
        # eyes 36-47: each from its image-left corner over the upper lid and back under the lower lid
        for side in (-1, 1):
            for lu, lid in [(-1.0, 0), (-0.4, 1), (0.4, 1), (1.0, 0), (0.4, -1), (-0.4, -1)]:
                xn = side * lu
                upper, lower = self._lids(np.array(xn))
                y = float(upper) if lid == 1 else float(lower) if lid == -1 else 0.0
                th.append(side * p.eye_spacing + lu * p.eye_width)
                ph.append(self.eye_level_of(side) + p.eye_tilt * xn * p.eye_width + y)
        th_arr, ph_arr = np.array(th), np.array(ph)
        # lips: outer 48-59 and inner 60-67
        upper_h, lower_h = 0.014 + 0.5 * p.lip_upper, 0.016 + 0.6 * p.lip_lower
        outer = []
        for a in np.linspace(np.pi, -np.pi, 13)[:-1]:
            uu = np.cos(a) * self.mouth_w
            dv = (upper_h if np.sin(a) > 0 else -lower_h) * abs(np.sin(a))
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
        s = self.p.eye_spacing
        return np.array([-s, s]), np.array([self.eye_level_of(-1), self.eye_level_of(1)])


def surface_points(head: Head, th: np.ndarray, ph: np.ndarray) -> np.ndarray:
    r = head.radius(th, ph)
    cp = np.cos(ph)
    return np.stack([r * cp * np.sin(th), r * np.sin(ph), r * cp * np.cos(th)], axis=-1)
