"""Hair styles and facial hair: where hair grows on the head's (theta, phi) map, and how thick it is.

Hair is part of the star-shaped head surface: a radial thickness added to
the skull (so it changes the silhouette in every view) and a coverage that
paints it.  A style is a set of continuous parameters (hairline, temples,
volume, length, fringe, bun, bald crown, curls); each named style draws them
from its own ranges, so two subjects with the same style still differ.

Angles: theta is the azimuth (0 ahead, positive to the subject's left), phi
the elevation.  ``head`` arguments are the subject's Head, for the
elevations of its features (v_eye, v_brow, v_nose, v_mouth, v_chin) and its
mouth width.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HAIR_STYLES = ("crop", "quiff", "receding", "bald", "fringe", "long", "curly", "tied")
FACIAL_HAIR = ("none", "stubble", "moustache", "goatee", "beard")

# style weights for men and women; receding and bald grow with age
_STYLE_P_MALE = {"crop": 0.30, "quiff": 0.13, "receding": 0.12, "bald": 0.06, "fringe": 0.09, "long": 0.07,
                 "curly": 0.15, "tied": 0.08}
_STYLE_P_FEMALE = {"crop": 0.08, "quiff": 0.04, "receding": 0.0, "bald": 0.0, "fringe": 0.20, "long": 0.32,
                   "curly": 0.16, "tied": 0.20}
_FACIAL_P_MALE = {"none": 0.40, "stubble": 0.20, "moustache": 0.10, "goatee": 0.11, "beard": 0.19}


@dataclass(frozen=True)
class Hair:
    style: str
    hairline: float  # front hairline: elevation above the eyes (radians)
    temple_recess: float  # the temples lie this much higher than the front (an M-shaped hairline)
    widows_peak: float  # the hairline dips this much at the centre
    volume: float  # thickness on the crown (head units)
    front_lift: float  # volume swept up over the forehead (a quiff)
    length: float  # elevation of the lower edge at the back (and at the sides when it covers the ears)
    covers_ears: bool
    fringe: float  # 0: none; else the gap between the fringe's cut edge and the brows (radians)
    bun: float  # radius of a bun at the back of the head (0: none)
    bun_height: float  # its elevation
    bald: float  # 0: none; how far down from the crown the scalp is bare (radians)
    curl: float  # amplitude of the curls (head units)
    density: float  # 1: opaque; less lets the scalp show through
    part: float  # azimuth of the parting (radians; 0 central)
    facial: str  # one of FACIAL_HAIR
    facial_length: float  # beard thickness at the chin (head units)
    moustache: float  # height of a moustache above the upper lip (radians)
    facial_density: float  # opacity of the facial hair


def _choose(rng: np.random.Generator, weights: dict) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], float)
    return names[rng.choice(len(names), p=p / p.sum())]


def sample_hair(rng: np.random.Generator, male: bool, age: float) -> Hair:
    weights = dict(_STYLE_P_MALE if male else _STYLE_P_FEMALE)
    for style in ("receding", "bald"):
        weights[style] *= 0.3 + 2.5 * age
    style = _choose(rng, weights)
    h = _scalp(rng, style)
    return Hair(**h, **_facial(rng, _choose(rng, _FACIAL_P_MALE) if male else "none"))


def _scalp(rng: np.random.Generator, style: str) -> dict:
    """The scalp hair's parameters for one style, from its own ranges."""
    u = rng.uniform
    h = dict(
        style=style, hairline=u(0.38, 0.52), temple_recess=u(0.0, 0.08),
        widows_peak=u(0.0, 0.05) * (rng.random() < 0.3),
        volume=u(0.03, 0.07), front_lift=0.0, length=u(-0.62, -0.45), covers_ears=False, fringe=0.0, bun=0.0,
        bun_height=0.0, bald=0.0, curl=0.0, density=1.0, part=u(-0.35, 0.35) * (rng.random() < 0.6),
    )
    if style == "quiff":
        h.update(front_lift=u(0.08, 0.16), volume=u(0.03, 0.06))
    elif style == "receding":
        h.update(hairline=u(0.55, 0.72), temple_recess=u(0.12, 0.30), volume=u(0.015, 0.04), density=u(0.55, 0.9))
    elif style == "bald":
        h.update(volume=u(0.005, 0.02), bald=u(0.55, 0.9), density=u(0.6, 0.95), temple_recess=u(0.1, 0.25))
    elif style == "fringe":
        h.update(fringe=u(0.03, 0.09), volume=u(0.05, 0.10), length=u(-0.75, -0.40), covers_ears=True)
    elif style == "long":
        h.update(volume=u(0.05, 0.11), length=u(-1.0, -0.78), covers_ears=True)
    elif style == "curly":
        h.update(volume=u(0.16, 0.30), curl=u(0.025, 0.05), length=u(-0.55, -0.25), covers_ears=rng.random() < 0.5)
    elif style == "tied":
        h.update(volume=u(0.015, 0.035), bun=u(0.20, 0.33), bun_height=u(0.05, 0.55), part=0.0)
    return h


def _facial(rng: np.random.Generator, facial: str) -> dict:
    u = rng.uniform
    return dict(
        facial=facial,
        facial_length={"beard": u(0.05, 0.16), "goatee": u(0.03, 0.08), "moustache": u(0.015, 0.03)}.get(facial, 0.0),
        moustache=u(0.05, 0.11),
        facial_density=u(0.25, 0.45) if facial == "stubble" else u(0.8, 1.0),
    )


# ----------------------------------------------------------------------------- months later
# A later session (Multi-PIE's were months apart): how often a person turns up with another hair style or other
# facial hair.  Receding and bald heads keep theirs: a hairline does not come back in months.
RESTYLE_P = 0.2
FACIAL_CHANGE_P = 0.35
_KEEPS_STYLE = ("receding", "bald")
_FACIAL_FIELDS = ("facial", "facial_length", "moustache", "facial_density")
_SCALP_FIELDS = tuple(f for f in Hair.__dataclass_fields__ if f not in _FACIAL_FIELDS)


def later_hair(h: Hair, rng: np.random.Generator, male: bool) -> Hair:
    """The same person's hair at a later session: restyled, or grown or cut; facial hair grown, shaved or trimmed.

    Where the hair grows stays (hairline, temples, widow's peak): that is the head's, not the haircut's.
    """
    if h.style not in _KEEPS_STYLE and rng.random() < RESTYLE_P:
        weights = {k: v for k, v in (_STYLE_P_MALE if male else _STYLE_P_FEMALE).items() if k not in _KEEPS_STYLE}
        scalp = _scalp(rng, _choose(rng, weights))
        scalp.update(hairline=h.hairline, temple_recess=h.temple_recess, widows_peak=h.widows_peak)
    else:  # the same style, grown or cut: volume, and the length of hair that hangs
        scalp = {k: getattr(h, k) for k in _SCALP_FIELDS}
        scalp["volume"] = float(np.clip(h.volume * np.exp(rng.normal(0, 0.2)), 0.005, 0.35))
        if h.covers_ears:
            scalp["length"] = float(np.clip(h.length + rng.normal(0, 0.08), -1.05, -0.25))
        if h.bun:
            scalp["bun"] = float(np.clip(h.bun * np.exp(rng.normal(0, 0.1)), 0.15, 0.36))
    if not male:
        face = {k: getattr(h, k) for k in _FACIAL_FIELDS}
    elif rng.random() < FACIAL_CHANGE_P:  # grown, shaved, or another cut
        face = _facial(rng, _choose(rng, _FACIAL_P_MALE))
    else:  # trimmed or let grow a little
        face = {k: getattr(h, k) for k in _FACIAL_FIELDS}
        face["facial_length"] = float(h.facial_length * np.exp(rng.normal(0, 0.25)))
    return Hair(**scalp, **face)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


# ----------------------------------------------------------------------------- scalp
def scalp_edge(h: Hair, th: np.ndarray, head) -> np.ndarray:
    """Elevation of the lower edge of the scalp hair at each azimuth: hairline, temples, sideburns, nape."""
    a = np.abs(th)
    front = head.v_eye + h.hairline
    temple = front + h.temple_recess
    if h.fringe:  # a straight cut just above the brows, rising to the temples
        front = temple = head.v_brow + h.fringe
    above_ear = head.v_eye + 0.16
    if h.covers_ears:
        knots = [0.0, 0.55, 0.95, 1.2, 1.4, np.pi]
        vals = [front, temple, head.v_eye + 0.25, h.length + 0.15, h.length, h.length]
    else:
        knots = [0.0, 0.55, 0.95, 1.12, 1.22, 1.27, 1.36, 1.8, 2.3, np.pi]
        sideburn = head.v_eye - 0.12
        vals = [front, temple, front - 0.02, head.v_eye + 0.2, sideburn, sideburn, above_ear, above_ear,
                0.5 * (above_ear + h.length), h.length]
    edge = np.interp(a, knots, vals)
    return edge - h.widows_peak * np.exp(-0.5 * (th / 0.07) ** 2)


def _grows(h: Hair, th: np.ndarray, ph: np.ndarray, head) -> np.ndarray:
    """Where the scalp grows hair, in [0, 1]: above the edge, and not on a bald crown."""
    grows = _smoothstep((ph - scalp_edge(h, th, head)) / 0.035)
    if h.bald:  # a horseshoe: bare above a line that is low at the temples and high at the back
        crown = np.interp(np.abs(th), [0.0, 1.0, 1.35, 2.2, np.pi], [-1.0, head.v_eye + 0.12, head.v_eye + 0.30,
                                                                      0.62 - h.bald * 0.3, 0.72 - h.bald * 0.3])
        grows = grows * (1 - _smoothstep((ph - crown) / 0.06))
    return grows


def scalp_cover(h: Hair, th: np.ndarray, ph: np.ndarray, head) -> np.ndarray:
    """How much hair hides the scalp, in [0, 1]; thinning (density below 1) shows most on the top."""
    thinning = (1 - h.density) * _smoothstep((ph - head.v_eye - 0.3) / 0.4)
    # opaque before the surface rises (scalp_radius): the side of a thick hairline is hair, not skin
    return _smoothstep(_grows(h, th, ph, head) / 0.45) * (1 - thinning)


def scalp_radius(h: Hair, th: np.ndarray, ph: np.ndarray, skull: np.ndarray, head, curls: np.ndarray) -> np.ndarray:
    """The surface radius where there is scalp hair: the skull plus the hair's thickness.

    Long hair hangs: below the ears its surface is a vertical cylinder round the
    head, not a shell that follows the narrowing jaw.  ``curls`` is a smooth noise
    field in [0, 1] sampled at the same points.
    """
    grows = _grows(h, th, ph, head)
    crown = 0.55 + 0.45 * _smoothstep((ph - head.v_eye) / 0.8)
    thick = h.volume * crown + h.curl * (2 * curls - 1)
    if h.front_lift:
        above_hairline = ph - head.v_eye - h.hairline
        lift_band = _smoothstep(above_hairline / 0.06) * _smoothstep((head.v_eye + h.hairline + 0.5 - ph) / 0.2)
        thick = thick + h.front_lift * np.exp(-0.5 * ((th - 0.5 * h.part) / 0.5) ** 2) * lift_band
    # the surface rises only where coverage is already half done: the side of the step is hair, not skin
    rise = _smoothstep((grows - 0.4) / 0.6)
    r = skull + np.maximum(thick, 0.0) * rise
    if h.covers_ears:  # below the temples the hair falls vertically: the same horizontal distance all the way down
        ph0 = head.v_eye + 0.25
        top = head.skull(th, np.full_like(th, ph0)) + h.volume * (0.55 + 0.45 * _smoothstep(0.25 / 0.8))
        hang = top * np.cos(ph0) / np.cos(ph)
        side = _smoothstep((np.abs(th) - 1.0) / 0.35)  # not in front of the face
        tuck = _smoothstep((ph - h.length) / 0.12)  # the ends curl back in towards the neck
        falls = skull + (hang - skull) * side * tuck
        r = np.where(ph < ph0, r + (np.maximum(r, falls) - r) * rise, r)
    if h.bun:
        back = np.angle(np.exp(1j * (th - np.pi)))  # azimuth measured from the back of the head
        d2 = ((back * np.cos(ph)) ** 2 + (ph - h.bun_height) ** 2) / (h.bun / 1.2) ** 2
        r = r + h.bun * 1.1 * np.sqrt(np.clip(1 - d2, 0, 1))
    return r


# ----------------------------------------------------------------------------- facial hair
def facial_cover(h: Hair, u: np.ndarray, v: np.ndarray, head) -> np.ndarray:
    """Where facial hair grows, in [0, 1] (before its density)."""
    if h.facial == "none":
        return np.zeros_like(u)
    a = np.abs(u)
    mw = head.mouth_w
    lips = ((a / (mw * 1.12)) ** 2 + ((v - head.mouth_line(u) - 0.006) / 0.05) ** 2) < 1
    above_lip = v - head.mouth_line(u) - 0.022
    droop = 0.05 * _smoothstep((a - mw * 0.75) / 0.2)  # the ends hang down past the mouth corners
    top = np.minimum(h.moustache * (1 - 0.35 * (a / mw) ** 2), head.v_nose - 0.05 - head.mouth_line(u) - 0.022)
    moustache = (
        _smoothstep((top - above_lip) / 0.02)
        * _smoothstep((above_lip + droop) / 0.012)
        * _smoothstep((mw * 1.15 - a) / 0.04)
    )
    if h.facial == "moustache":
        return moustache * ~lips
    chin = _smoothstep((0.26 - a) / 0.05) * _smoothstep((head.mouth_line(u) - 0.05 - v) / 0.02)
    chin = chin * _smoothstep((v - head.v_chin + 0.22) / 0.05)
    if h.facial == "goatee":
        return np.maximum(moustache, chin) * ~lips
    # full beard and stubble: below a cheek line running from the mouth corners up to the sideburns
    cheek_line = np.interp(a, [0.0, mw * 1.1, 0.6, 0.95, 1.2, 1.35],
                           [head.v_nose - 0.04, head.v_mouth + 0.07, head.v_nose, head.v_eye - 0.16,
                            head.v_eye - 0.08, head.v_eye - 0.05])
    beard = _smoothstep((cheek_line - v) / 0.05) * _smoothstep((1.38 - a) / 0.05)
    beard = beard * _smoothstep((v - head.v_chin + 0.38) / 0.08)  # ends under the chin, on the neck
    return np.maximum(beard, moustache) * ~lips


def facial_thickness(h: Hair, u: np.ndarray, v: np.ndarray, head, cover: np.ndarray) -> np.ndarray:
    """Radial thickness of a beard or moustache: fullest at the chin, so a beard reshapes the jaw."""
    if h.facial in ("none", "stubble"):
        return np.zeros_like(u)
    at_chin = np.exp(-0.5 * ((u / 0.35) ** 2 + ((v - head.v_chin) / 0.2) ** 2))
    return h.facial_length * cover * (0.45 + 0.55 * at_chin)
