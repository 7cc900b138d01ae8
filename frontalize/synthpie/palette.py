"""Colours of SynthPIE people: skin on one continuous range, hair by family, natural irises.

Colour must not be an identity key (DESIGN.md, "Two traps"), so colours are
drawn the way a population shares them: skin tones from one continuous
light-to-dark ramp, with most people in a few dense clusters (so many
subjects are within a just-noticeable difference of someone else); hair from
six natural families with variation inside each family, several of which
hold many subjects; irises from a few natural colours.  Everything that
tells people apart is structure (head.py, hair.py), not colour.

Colours are albedos in display RGB, [0, 1].
"""
from __future__ import annotations

import numpy as np

# Skin albedo from the lightest to the darkest tone; a tone in [0, 1] interpolates along it.  Across the
# light half, where most subjects lie, the tones differ mostly in lightness, little in hue.
SKIN_RAMP = np.array(
    [
        [0.96, 0.79, 0.68],
        [0.92, 0.75, 0.64],
        [0.87, 0.70, 0.59],
        [0.80, 0.63, 0.51],
        [0.69, 0.51, 0.39],
        [0.56, 0.39, 0.28],
        [0.43, 0.29, 0.20],
        [0.33, 0.22, 0.16],
    ]
)
# Undertone: +1 warm/olive (more yellow), -1 pink (more red), as a relative change of R, G, B.
UNDERTONE = np.array([-0.010, 0.018, -0.035])

# Population clusters of the tone: (weight, mean, spread).  Two large, overlapping light-to-medium
# clusters put most subjects within a just-noticeable difference of many others; a broad darker one.
TONE_CLUSTERS = ((0.60, 0.20, 0.02), (0.28, 0.27, 0.02), (0.12, 0.60, 0.025))

# Hair families.  Black and dark brown, the commonest, look alike under studio light, as in photographs.
HAIR_FAMILIES: dict[str, np.ndarray] = {
    "black": np.array([0.050, 0.045, 0.040]),
    "dark_brown": np.array([0.085, 0.062, 0.047]),
    "brown": np.array([0.17, 0.115, 0.075]),
    "blond": np.array([0.44, 0.34, 0.21]),
    "red": np.array([0.32, 0.14, 0.065]),
}
GREY_WHITE = np.array([0.80, 0.79, 0.77])
# How likely each family is for the lightest and for the darkest skin; interpolated by tone.
_FAMILY_P_LIGHT = {"black": 0.30, "dark_brown": 0.46, "brown": 0.185, "blond": 0.04, "red": 0.015}
_FAMILY_P_DARK = {"black": 0.78, "dark_brown": 0.20, "brown": 0.02, "blond": 0.0, "red": 0.0}

IRIS_COLOURS: dict[str, np.ndarray] = {
    "dark_brown": np.array([0.16, 0.09, 0.05]),
    "brown": np.array([0.30, 0.17, 0.08]),
    "hazel": np.array([0.38, 0.30, 0.14]),
    "green": np.array([0.28, 0.37, 0.22]),
    "blue": np.array([0.30, 0.42, 0.58]),
    "grey": np.array([0.42, 0.45, 0.48]),
}
_IRIS_P_LIGHT = {"dark_brown": 0.15, "brown": 0.25, "hazel": 0.15, "green": 0.1, "blue": 0.25, "grey": 0.1}
_IRIS_P_DARK = {"dark_brown": 0.75, "brown": 0.25, "hazel": 0.0, "green": 0.0, "blue": 0.0, "grey": 0.0}


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _darkness(tone: float) -> float:
    """0 for light skin, 1 for dark, with the change between the light and the dark clusters."""
    return float(_smoothstep((tone - 0.25) / 0.35))


def _pick(rng: np.random.Generator, light: dict, dark: dict, mix: float) -> str:
    names = list(light)
    p = np.array([light[n] * (1 - mix) + dark[n] * mix for n in names])
    return names[rng.choice(len(names), p=p / p.sum())]


def draw_tone(rng: np.random.Generator) -> float:
    weights = np.array([c[0] for c in TONE_CLUSTERS])
    _, mean, spread = TONE_CLUSTERS[rng.choice(len(TONE_CLUSTERS), p=weights / weights.sum())]
    return float(np.clip(rng.normal(mean, spread), 0.0, 1.0))


def skin_colour(tone: float, undertone: float) -> np.ndarray:
    """Skin albedo for a tone in [0, 1] (light to dark) and an undertone in [-1, 1]."""
    x = tone * (len(SKIN_RAMP) - 1)
    lo = min(int(x), len(SKIN_RAMP) - 2)
    rgb = SKIN_RAMP[lo] + (SKIN_RAMP[lo + 1] - SKIN_RAMP[lo]) * (x - lo)
    return np.clip(rgb * (1 + undertone * UNDERTONE), 0, 1)


def draw_hair_colour(rng: np.random.Generator, tone: float, age: float) -> tuple[str, np.ndarray]:
    """A family and a colour inside it; grey or white becomes likely with age."""
    family = _pick(rng, _FAMILY_P_LIGHT, _FAMILY_P_DARK, _darkness(tone))
    base = HAIR_FAMILIES[family] * rng.uniform(0.94, 1.06) * (1 + rng.normal(0, 0.015, 3))
    if rng.random() < 0.85 * _smoothstep((age - 0.5) / 0.45):
        greyness = rng.uniform(0.75, 1.0)
        return "grey", np.clip(base + (GREY_WHITE * rng.uniform(0.85, 1.0) - base) * greyness, 0, 1)
    return family, np.clip(base, 0, 1)


def draw_iris(rng: np.random.Generator, tone: float) -> np.ndarray:
    name = _pick(rng, _IRIS_P_LIGHT, _IRIS_P_DARK, _darkness(tone))
    return np.clip(IRIS_COLOURS[name] * rng.uniform(0.85, 1.15), 0, 1)
