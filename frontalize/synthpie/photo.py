"""What a photograph adds to a rendered view, drawn per image: the room behind the subject, their clothes, the
room's own light, the skin's fine texture, and the camera (exposure, white balance, blur, noise, JPEG).

SynthPIE v1-v3 put every subject in front of one grey backdrop, in one shirt, in clean renders: a frontalizer
trained on them paints that grey over a photograph's background and smooth paint over real skin (issue 27).  From
format v4 every image draws its own look here.

Nothing here may carry identity (DESIGN.md, the first trap).  Every draw comes from the image's own random stream,
seeded by (seed, subject, session, recording, camera, flash): the ids only name the stream, no parameter of the
subject enters it, so two images of one subject are no more alike than images of two subjects.  The flashes
(studio.py) stay where they are, symmetric about the face; the room's extra light is drawn per image.  Framing
(studio.draw_framing) is drawn per view, as the view's flashes share one landmark sidecar and one subject mask.

Planes are float32 display RGB in [0, 1].  Low-frequency detail (backgrounds, the skin's texture, chroma noise) is
drawn at half size or less and resized, and the subject's own arithmetic runs inside its bounding box: the whole
finish costs a little more than the PNG encoding that follows it (2.2 against 1.6 ms at 256x192).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import cv2
import numpy as np

from frontalize.synthpie.render import View, direction

# Backgrounds: what stands behind people in photographs, from a studio's backdrop to a room.
BACKGROUNDS = {
    "plain": 0.15,  # a backdrop or a plain wall: one colour, a gradient of light across it
    "wall": 0.25,  # a wall with its blotches, a corner or a door frame
    "texture": 0.20,  # wallpaper, tiles, bricks, fabric: a periodic pattern
    "clutter": 0.20,  # shapes of every kind and colour, more or less out of focus
    "scene": 0.20,  # a room: wall and floor, windows, furniture, a lamp, out of focus
}
# Clothing: plain, striped, checked or printed, in a garment colour or any colour
PATTERNS = {"plain": 0.45, "stripes": 0.25, "checks": 0.15, "print": 0.15}
GARMENTS = np.array([
    [0.22, 0.24, 0.30],  # navy (SynthPIE v1-v3's shirt for everyone)
    [0.18, 0.18, 0.19],  # charcoal
    [0.40, 0.40, 0.41],  # grey
    [0.17, 0.24, 0.19],  # dark green
    [0.32, 0.15, 0.16],  # maroon
    [0.45, 0.40, 0.30],  # khaki
    [0.50, 0.58, 0.68],  # light blue
    [0.78, 0.78, 0.76],  # white
    [0.07, 0.07, 0.08],  # black
    [0.55, 0.12, 0.10],  # red
    [0.12, 0.20, 0.45],  # royal blue
    [0.60, 0.50, 0.35],  # beige
])
AMBIENT = (0.55, 1.5)  # gain of the room's light on the subject
TEMPERATURE = 1.0  # the light's colour, -1 (cool) .. +1 (warm)
EXTRA_LIGHT = 0.6  # how often a lamp or a window adds its light ...
EXTRA_INTENSITY = (0.05, 0.3)  # ... this strong against the frontal flash's 0.72
SKIN_DETAIL = (0.02, 0.08)  # relative amplitude of the skin's per-image texture (pores, grain)
# The whole frame's exposure: the camera meters the light on the subject (more room light or a lamp: a shorter
# exposure) and misses by this much, in stops; frontal flash on light skin clips a little above 1
EXPOSURE_SD = 0.25
EXPOSURE_RANGE = (0.5, 1.35)
CAST = 0.07  # white-balance error per channel, relative
LENS_BLUR = (0.4, 1.3)  # Gaussian sigma, pixels
MOTION_BLUR = 0.15  # how often the camera or the subject moved ...
MOTION_LENGTH = (2.0, 6.0)  # ... this many pixels
READ_NOISE = (0.5, 3.5)  # sigma, grey levels
SHOT_NOISE = (0.0, 0.025)  # sigma per unit of brightness
CHROMA_NOISE = (0.0, 2.0)  # sigma, grey levels, blotchy (drawn at a quarter of the size)
JPEG = 0.7  # how often the image went through JPEG ...
JPEG_QUALITY = (35, 95)  # ... at this quality
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Noise: N(0, 1) at the 256 quantiles (i + 1/2) / 256, looked up by random bytes: five times faster than drawing
# normals, and nothing a few grey levels of noise can show (tails cut at 2.9 sigma)
_GAUSS = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], np.float32)
_GAUSS /= _GAUSS.std()


def gaussian_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w) float32 noise of mean 0 and standard deviation 1."""
    return _GAUSS[np.frombuffer(rng.bytes(h * w), np.uint8)].reshape(h, w)


@dataclass(frozen=True)
class PhotoLook:
    """The scalars of one image's look; its textures are drawn from the same stream as they are made."""

    background: str
    shirt: tuple[float, float, float]
    pattern: str
    pattern_colour: tuple[float, float, float]  # the stripes', checks' or print's other colour
    ambient: float
    temperature: float
    extra_light: tuple | None  # (direction towards it (3, world frame), intensity, colour (3)) or None
    exposure: float
    cast: tuple[float, float, float]
    skin_detail: float
    blur: float
    motion: tuple[float, float] | None  # (length in pixels, angle in degrees) or None
    noise: tuple[float, float, float]  # read, shot and chroma sigma, in [0, 1] units (shot: per unit of brightness)
    jpeg: int | None  # quality, or None: no JPEG


def _choice(rng: np.random.Generator, table: dict) -> str:
    names = list(table)
    p = np.array([table[n] for n in names])
    return names[rng.choice(len(names), p=p / p.sum())]


def _balanced(rgb) -> np.ndarray:
    """A colour factor of unit luminance: it tints without changing the exposure."""
    rgb = np.asarray(rgb, np.float32)
    return rgb / float(rgb @ LUMA)


def _hsv(hue: float, sat: float, val: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
    return (val - val * sat * np.clip(np.minimum(k, 4 - k), 0, 1)).astype(np.float32)


def _lightness(rng: np.random.Generator) -> float:
    """How light a surface behind a subject is: three in ten light (white walls), two in ten dark."""
    r = rng.random()
    if r < 0.3:
        return rng.uniform(0.72, 0.97)
    if r < 0.8:
        return rng.uniform(0.3, 0.75)
    return rng.uniform(0.06, 0.3)


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A colour as rooms and things are painted: mostly muted, some saturated."""
    return _hsv(rng.random(), rng.beta(1.2, 3.0), _lightness(rng))


def draw_look(rng: np.random.Generator) -> PhotoLook:
    """One image's look, from the image's own stream."""
    if rng.random() < 0.5:
        shirt = GARMENTS[rng.integers(len(GARMENTS))] * rng.uniform(0.85, 1.15) * (1 + rng.normal(0, 0.04, 3))
    else:
        shirt = _hsv(rng.random(), rng.beta(1.5, 2.0), rng.uniform(0.05, 0.9))
    # a pattern's other colour: any colour, or the shirt's own darker or lighter
    other = _colour(rng) if rng.random() < 0.6 else shirt * (rng.uniform(0.3, 0.7) if rng.random() < 0.5 else
                                                              rng.uniform(1.4, 2.2))
    ambient = float(rng.uniform(*AMBIENT))
    extra = None
    if rng.random() < EXTRA_LIGHT:
        extra = (tuple(direction(rng.uniform(-100, 100), rng.uniform(-15, 60)).tolist()),
                 float(rng.uniform(*EXTRA_INTENSITY)), tuple(_balanced(1 + rng.normal(0, 0.08, 3)).tolist()))
    metered = 1 + 0.35 * (ambient - 1) + 0.6 * (extra[1] if extra else 0.0)  # the subject's light against the usual
    motion = (float(rng.uniform(*MOTION_LENGTH)), float(rng.uniform(0, 180))) if rng.random() < MOTION_BLUR else None
    return PhotoLook(
        background=_choice(rng, BACKGROUNDS),
        shirt=tuple(float(c) for c in np.clip(shirt, 0.02, 0.95)),
        pattern=_choice(rng, PATTERNS),
        pattern_colour=tuple(float(c) for c in np.clip(other, 0.02, 0.95)),
        ambient=ambient,
        temperature=float(rng.uniform(-TEMPERATURE, TEMPERATURE)),
        extra_light=extra,
        exposure=float(np.clip(2 ** rng.normal(0, EXPOSURE_SD) / metered, *EXPOSURE_RANGE)),
        cast=tuple(_balanced(1 + rng.uniform(-CAST, CAST, 3)).tolist()),
        skin_detail=float(rng.uniform(*SKIN_DETAIL)),
        blur=float(rng.uniform(*LENS_BLUR)),
        motion=motion,
        noise=(float(rng.uniform(*READ_NOISE) / 255), float(rng.uniform(*SHOT_NOISE)),
               float(rng.uniform(*CHROMA_NOISE) / 255)),
        jpeg=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)) if rng.random() < JPEG else None,
    )


def temperature_tint(t: float) -> np.ndarray:
    """The colour of a light from cool (-1, bluish) to warm (+1, like a tungsten lamp), unit luminance."""
    return _balanced([1 + 0.12 * t, 1 + 0.01 * t, 1 - 0.16 * t])


# ------------------------------------------------------------------------------------------ backgrounds
@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates x, y (float32, (h, w)), centred, in units of the height."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return (x - w / 2) / h, (y - h / 2) / h


def _noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth noise about N(0, 1) at each point with features ``cell`` pixels wide, (h, w)."""
    coarse = rng.standard_normal((h // cell + 2, w // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _ramp(rng: np.random.Generator, h: int, w: int, amount: float) -> np.ndarray:
    """A gradient of light across the frame, 1 +- ``amount``, in a random direction, (h, w, 1)."""
    x, y = _grid(h, w)
    a = rng.uniform(0, 2 * np.pi)
    return (1 + amount * (np.cos(a) * x + np.sin(a) * y) / 0.7)[..., None]


def _stripes(rng: np.random.Generator, h: int, w: int, period: float, angle: float, duty: float,
             soft: float = 0.15) -> np.ndarray:
    """0/1 stripes (h, w), ``period`` pixels, softened over ``soft`` of a period."""
    x, y = _grid(h, w)
    t = (np.cos(angle) * x + np.sin(angle) * y) * (h / period) + rng.random()
    t -= np.floor(t)
    return np.clip((duty - np.abs(t - 0.5) * 2 + soft) / (2 * soft), 0, 1)


def _pattern(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A periodic or fine texture in [0, 1], (h, w): stripes, checks, tiles, bricks or a fabric's grain."""
    kind = rng.choice(["stripes", "checks", "tiles", "bricks", "grain"])
    period = rng.uniform(3.0, 16.0)
    angle = rng.choice([0.0, np.pi / 2]) if rng.random() < 0.6 else rng.uniform(0, np.pi)
    if kind == "stripes":
        return _stripes(rng, h, w, period, angle, rng.uniform(0.2, 0.6))
    if kind == "checks":
        a, b = _stripes(rng, h, w, period, angle, 0.5), _stripes(rng, h, w, period, angle + np.pi / 2, 0.5)
        return np.abs(a - b)
    if kind == "tiles":  # grout lines
        a = _stripes(rng, h, w, period * 2, angle, 0.12, 0.3)
        b = _stripes(rng, h, w, period * 2, angle + np.pi / 2, 0.12, 0.3)
        return np.maximum(a, b)
    if kind == "bricks":  # courses of bricks, every other one shifted by half a brick
        x, y = _grid(h, w)
        course = y * (h / (1.5 * period))
        row = np.floor(course)
        along = x * (h / (3 * period)) + 0.5 * (row % 2)
        return ((course - row < 0.15) | (along - np.floor(along) < 0.07)).astype(np.float32)
    return np.clip(0.5 + 0.25 * _noise(rng, h, w, 1) + 0.25 * _noise(rng, h, w, 3), 0, 1)


def _shapes(rng: np.random.Generator, img: np.ndarray, n: int, scale: float) -> None:
    """Draw ``n`` filled shapes of random kinds and colours onto ``img`` (h, w, 3), in place."""
    h, w = img.shape[:2]
    for _ in range(n):
        colour = tuple(float(c) for c in _colour(rng))
        kind = rng.integers(5)
        cx, cy = int(rng.integers(-w // 8, w + w // 8)), int(rng.integers(-h // 8, h + h // 8))
        size = max(2, int(scale * h * rng.uniform(0.04, 0.35)))
        if kind == 0:
            cv2.rectangle(img, (cx, cy), (cx + size, cy + int(size * rng.uniform(0.3, 3))), colour, -1)
        elif kind == 1:
            cv2.circle(img, (cx, cy), size // 2, colour, -1, cv2.LINE_AA)
        elif kind == 2:
            cv2.ellipse(img, (cx, cy), (size // 2, max(1, int(size * rng.uniform(0.1, 0.6)))),
                        float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
        elif kind == 3:
            pts = (np.array([cx, cy]) + rng.uniform(-size, size, (int(rng.integers(3, 7)), 2))).astype(np.int32)
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
        else:
            end = (cx + int(rng.uniform(-2, 2) * size), cy + int(rng.uniform(-2, 2) * size))
            cv2.line(img, (cx, cy), end, colour, max(1, int(size * rng.uniform(0.03, 0.15))), cv2.LINE_AA)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma) if sigma > 0.3 else img


def background(kind: str, rng: np.random.Generator, h: int, w: int, gain=(1.0, 1.0, 1.0)) -> np.ndarray:
    """A background of ``kind`` (BACKGROUNDS), (h, w, 3) float32, times ``gain`` per channel (the exposure and white
    balance of the photograph); drawn at half size, where it is out of focus."""
    hh, hw = (h + 1) // 2, (w + 1) // 2
    base = _colour(rng)
    if kind == "plain":
        img = base * _ramp(rng, hh, hw, rng.uniform(0.0, 0.35))
    elif kind == "wall":
        blotches = 1 + rng.uniform(0.02, 0.1) * _noise(rng, hh, hw, 12)[..., None]
        img = base * _ramp(rng, hh, hw, rng.uniform(0.0, 0.3)) * blotches
        if rng.random() < 0.6:  # a corner, a door's edge or frame: another surface beside it
            x0 = int(rng.integers(0, hw))
            side = slice(0, x0) if rng.random() < 0.5 else slice(x0, hw)
            if rng.random() < 0.5:  # the same wall turned away from the light
                img[:, side] *= rng.uniform(0.6, 0.95)
            else:
                img[:, side] = _colour(rng) * _ramp(rng, hh, hw, 0.2)[:, side]
        img = _blur(img, rng.uniform(0, 1.5))
    elif kind == "texture":
        other = _colour(rng) if rng.random() < 0.5 else base * rng.uniform(0.5, 0.9)
        m = _pattern(rng, hh, hw)[..., None]
        img = (base + m * (other - base)) * _ramp(rng, hh, hw, rng.uniform(0.0, 0.3))
        img = _blur(img, rng.uniform(0, 1.2))
    elif kind == "clutter":
        img = np.ascontiguousarray(base * _ramp(rng, hh, hw, 0.2))
        _shapes(rng, img, int(rng.integers(5, 31)), 1.0)
        img = _blur(img, rng.uniform(0, 2.5))
    else:  # a room, out of focus: a wall, the floor, windows, furniture, a lamp
        img = np.empty((hh, hw, 3), np.float32)
        img[:] = base
        img *= _ramp(rng, hh, hw, rng.uniform(0.1, 0.4))
        horizon = int(hh * rng.uniform(0.55, 1.0))
        img[horizon:] = _colour(rng)
        for _ in range(int(rng.integers(0, 3))):  # windows: daylight behind mullions
            x0, y0 = int(rng.integers(-hw // 4, hw)), int(rng.integers(-hh // 4, hh // 2))
            ww, wh = int(hw * rng.uniform(0.15, 0.5)), int(hh * rng.uniform(0.2, 0.6))
            sky = rng.uniform(0.85, 1.0) * _balanced(1 + rng.normal(0, 0.05, 3)) * [0.97, 0.99, 1.03]
            sky = tuple(float(c) for c in sky)
            cv2.rectangle(img, (x0, y0), (x0 + ww, y0 + wh), sky, -1)
            frame = tuple(float(c) for c in _colour(rng))
            cv2.rectangle(img, (x0, y0), (x0 + ww, y0 + wh), frame, max(1, ww // 20))
            cv2.line(img, (x0 + ww // 2, y0), (x0 + ww // 2, y0 + wh), frame, max(1, ww // 30))
            cv2.line(img, (x0, y0 + wh // 2), (x0 + ww, y0 + wh // 2), frame, max(1, ww // 30))
        for _ in range(int(rng.integers(0, 5))):  # furniture, shelves, frames on the wall
            x0, y0 = int(rng.integers(-hw // 4, hw)), int(rng.integers(hh // 5, hh))
            cv2.rectangle(img, (x0, y0), (x0 + int(hw * rng.uniform(0.1, 0.5)), y0 + int(hh * rng.uniform(0.1, 0.8))),
                          tuple(float(c) for c in _colour(rng)), -1)
        if rng.random() < 0.3:  # a lamp
            cv2.circle(img, (int(rng.integers(0, hw)), int(rng.integers(0, hh // 2))), int(hh * rng.uniform(0.03, 0.1)),
                       (1.0, 0.95, 0.8), -1, cv2.LINE_AA)
        img = _blur(img, rng.uniform(1.0, 4.0))
    img = np.clip(img, 0, 1).astype(np.float32) * np.asarray(gain, np.float32)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


# ---------------------------------------------------------------------------------------------- subject
def _dye(look: PhotoLook, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """The shirt's colour at each pixel, (3, h, w) or (3, 1, 1) for a plain one."""
    shirt = np.asarray(look.shirt, np.float32)[:, None, None]
    if look.pattern == "plain":
        return shirt
    other = np.asarray(look.pattern_colour, np.float32)[:, None, None]
    period = rng.uniform(3.0, 12.0)
    angle = rng.choice([0.0, np.pi / 2]) if rng.random() < 0.7 else rng.uniform(0, np.pi)
    if look.pattern == "stripes":
        m = _stripes(rng, h, w, period, angle, rng.uniform(0.15, 0.6))
    elif look.pattern == "checks":
        m = 0.5 * (_stripes(rng, h, w, period, angle, 0.4) + _stripes(rng, h, w, period, angle + np.pi / 2, 0.4))
    else:  # a print: blotches or spots
        m = (_noise(rng, h, w, int(rng.integers(2, 6))) > rng.uniform(0.3, 1.2)).astype(np.float32)
    return shirt + m[None] * (other - shirt)


def _subject(view: View, shot: int, gain: np.ndarray, look: PhotoLook, rng: np.random.Generator) -> np.ndarray:
    """The subject's colour planes inside ``view.box``, (3, h, w): the shot under the room's light at this image's
    level and the extra light, in its clothes, with its skin's texture, under the light's colour, times ``gain``."""
    rows, cols = view.box
    out = view.shot(shot)[:, rows, cols] + np.float32(look.ambient - 1) * view.room[:, rows, cols]
    if look.extra_light is not None:
        d, strength, colour = look.extra_light
        normal = view.normal[:, rows, cols]
        d = np.asarray(d, np.float32)
        lit = np.maximum(d[0] * normal[0] + d[1] * normal[1] + d[2] * normal[2], 0) * np.float32(strength)
        out += view.albedo[:, rows, cols] * lit * np.asarray(colour, np.float32)[:, None, None]
    h, w = out.shape[1:]
    cloth = view.cloth[rows, cols]
    out *= 1 + cloth * (_dye(look, rng, h, w) - 1)
    grain = cv2.resize(gaussian_noise(rng, (h + 1) // 2, (w + 1) // 2), (w, h), interpolation=cv2.INTER_LINEAR)
    out *= 1 + np.float32(look.skin_detail) * view.skin[rows, cols] * grain
    out *= (gain * temperature_tint(look.temperature))[:, None, None]
    return out


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    size = int(np.ceil(length)) | 1
    k = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = np.cos(np.deg2rad(angle)) * length / 2, np.sin(np.deg2rad(angle)) * length / 2
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0, 1, cv2.LINE_AA)
    return k / k.sum()


def develop(view: View, shot: int, gain: np.ndarray, look: PhotoLook, rng: np.random.Generator) -> np.ndarray:
    """One photograph of shot ``shot`` of ``view``: uint8 RGB (H, W, 3).

    ``gain``: the studio's exposure and colour balance of the flash light on the subject (studio.shot_gain).  The
    subject's mask is ``view.alpha``: blur moves its edge by a pixel or two in some images, nothing moves the subject.
    """
    h, w = view.alpha.shape
    camera = np.float32(look.exposure) * np.asarray(look.cast, np.float32)  # on the whole frame
    img = background(look.background, rng, h, w, camera)
    box = view.box
    subject = _subject(view, shot, np.asarray(gain, np.float32) * camera, look, rng)
    alpha = view.alpha[box]
    img[box] = cv2.blendLinear(cv2.merge(list(subject)), img[box], alpha, 1 - alpha)
    img = cv2.GaussianBlur(img, (0, 0), look.blur)
    if look.motion is not None:
        img = cv2.filter2D(img, -1, _motion_kernel(*look.motion))
    read, shot_noise, chroma = look.noise
    grain = gaussian_noise(rng, h, w)
    grain = cv2.merge([grain, grain, grain])  # one grain for the three channels ...
    noise = cv2.multiply(img, grain, scale=shot_noise)
    noise = cv2.scaleAdd(grain, read, noise)
    if chroma > 0:  # ... and blotchy colour noise, as a camera's denoiser and JPEG leave it
        blotches = rng.standard_normal(((h + 3) // 4, (w + 3) // 4, 3), dtype=np.float32) * np.float32(chroma)
        noise += cv2.resize(blotches, (w, h), interpolation=cv2.INTER_LINEAR)
    rgb = cv2.addWeighted(img, 255.0, noise, 255.0, 0.0, dtype=cv2.CV_8U)  # rounded and clipped to 0..255
    if look.jpeg is not None:  # the camera saved a JPEG (4:2:0 chroma); the file stays PNG
        _, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, look.jpeg])
        rgb = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return rgb
