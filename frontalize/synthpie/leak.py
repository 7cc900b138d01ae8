"""The colour-leak measure: how many probes does a colour histogram alone identify?

If it identifies many, colour (skin tone, hair colour) carries identity, and
a frontalizer that keeps colours scores well without keeping a face
(DESIGN.md, "Two traps").  No learning: each aligned crop becomes an
8x8x8 RGB histogram of the subject's pixels, L1-normalised and
square-rooted (the Hellinger mapping), and a probe is matched to the gallery
image of highest cosine similarity.

The subject's pixels: where the row has a subject mask (``alpha_path``, SynthPIE
v4 on), those the mask covers (at least half): head, hair, neck and shirt.
``region="background"`` takes the others instead, to show that the background,
drawn per image, identifies nobody either.  Without a mask (trees of SynthPIE
v1-v3, prepared before masks were kept), a pixel is background when each of its
channels lies within ``BACKGROUND_TOLERANCE`` grey levels of v1-v3's studio grey,
which the renderer never lit, so it kept that grey up to sensor noise.

Input is plain: the prepared folder and the rows of a protocol manifest
(dicts with crop_path, subject, session, recording, yaw, role and, where there
is one, alpha_path), so any manifest reader can feed it.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from frontalize.data.images import read_mask, read_rgb

# The bars (#13): (protocol, yaw) -> the most rank-1 colour alone may reach on the full `small` preset
# (setting1: 149 test subjects, chance 0.7 %; session01: 49, chance 2 %).
BARS = {
    ("setting1", 0): 0.20, ("setting1", -45): 0.10, ("setting1", 45): 0.10,
    ("session01", -90): 0.15, ("session01", 90): 0.15,
}
BINS = 8  # per channel
REGIONS = ("subject", "background")
BACKGROUND_TOLERANCE = 6  # grey levels
BACKGROUND_LEVEL = 0.42 * 255  # SynthPIE v1-v3's studio grey, the same in every image


def grey_backdrop(rgb: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of a v1-v3 image that show its studio grey."""
    return np.all(np.abs(rgb.astype(np.float32) - BACKGROUND_LEVEL) <= BACKGROUND_TOLERANCE, axis=-1)


def colour_histogram(rgb: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """The (BINS**3,) feature of one uint8 RGB image, of its pixels where ``keep`` (H, W) holds (by default, those
    not v1-v3's studio grey): unit-length square root of the L1-normalised histogram."""
    if keep is None:
        keep = ~grey_backdrop(rgb)
    bins = (rgb[keep] // (256 // BINS)).astype(np.int64)
    hist = np.bincount((bins[:, 0] * BINS + bins[:, 1]) * BINS + bins[:, 2], minlength=BINS**3).astype(np.float64)
    if hist.sum() == 0:
        return hist
    root = np.sqrt(hist / hist.sum())
    return root / np.linalg.norm(root)  # unit length: a dot product is the cosine similarity


def _feature(prepared: Path, row: dict, region: str) -> np.ndarray:
    rgb = read_rgb(Path(prepared) / row["crop_path"])
    if row.get("alpha_path"):
        subject = read_mask(Path(prepared) / row["alpha_path"]) >= 128
        return colour_histogram(rgb, subject if region == "subject" else ~subject)
    if region != "subject":
        raise ValueError(f"{row['crop_path']}: no subject mask (alpha_path), so no background to measure")
    return colour_histogram(rgb)


def colour_leak(prepared: Path, rows: list[dict], region: str = "subject") -> dict[int, dict]:
    """Colour-histogram rank-1 per yaw: {yaw: {"rank1", "probes", "gallery"}}, of the subject's pixels or, with
    ``region="background"``, of the others (rows with a subject mask only).

    Gallery: the rows with role ``gallery``; probes: role ``probe``.  A probe
    is matched only against the gallery of its own session and recording (for
    session01, one gallery per expression).
    """
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, not {region!r}")
    gallery = defaultdict(list)  # (session, recording) -> [(subject, feature)]
    for row in rows:
        if row["role"] == "gallery":
            gallery[(row["session"], row["recording"])].append((row["subject"], _feature(prepared, row, region)))
    if not gallery:
        raise ValueError("the manifest rows hold no gallery image")
    matrices = {key: (np.array([s for s, _ in g]), np.stack([f for _, f in g])) for key, g in gallery.items()}
    hits, totals, sizes = defaultdict(int), defaultdict(int), defaultdict(set)
    for row in rows:
        if row["role"] != "probe":
            continue
        subjects, features = matrices[(row["session"], row["recording"])]
        yaw = int(row["yaw"])
        best = subjects[int(np.argmax(features @ _feature(prepared, row, region)))]
        hits[yaw] += best == row["subject"]
        totals[yaw] += 1
        sizes[yaw].add(len(subjects))
    return {
        yaw: {"rank1": hits[yaw] / totals[yaw], "probes": totals[yaw], "gallery": max(sizes[yaw])}
        for yaw in sorted(totals)
    }
