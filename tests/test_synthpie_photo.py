"""SynthPIE v4's photographs: a look drawn per image (background, clothing, light, camera) that varies, repeats for
a seed and carries no identity, and the subject mask beside every view."""
from collections import Counter
from dataclasses import replace

import cv2
import numpy as np

from frontalize.data.multipie import ShotId
from frontalize.synthpie import photo, studio
from frontalize.synthpie.generate import PRESETS, _scene, alpha_path, landmark_path, read_sidecar
from frontalize.synthpie.render import look, pose, rotation

TINY = PRESETS["tiny"]


def _views(preset=TINY):
    return [ShotId(s, 1, r, cam, 0) for s in range(1, preset.subjects + 1) for r in preset.recordings
            for cam in preset.cameras]


def _mask(root, view: ShotId) -> np.ndarray:
    return cv2.imread(str(root / alpha_path(view)), cv2.IMREAD_UNCHANGED)


def _background(root, view: ShotId, flash: int) -> np.ndarray:
    """The pixels of an image that its view's mask leaves to the background, (N, 3) RGB."""
    img = cv2.cvtColor(cv2.imread(str(root / replace(view, flash=flash).relpath)), cv2.COLOR_BGR2RGB)
    return img[_mask(root, view) == 0].astype(np.float64)


def _background_features(root) -> tuple[np.ndarray, np.ndarray]:
    """Per image: the mean and spread of its background's colour; and the image's subject."""
    features, subjects = [], []
    for view in _views():
        for flash in TINY.flashes:
            bg = _background(root, view, flash)
            features.append(np.concatenate([bg.mean(0), bg.std(0)]))
            subjects.append(view.subject)
    return np.array(features), np.array(subjects)


def test_every_image_draws_its_own_background(tiny_synthpie):
    """Not one grey: the images of one view differ in background, and across the tree they range from dark rooms
    to white walls."""
    for view in _views()[:10]:
        means = [_background(tiny_synthpie, view, flash).mean(0) for flash in TINY.flashes]
        assert min(np.abs(a - b).max() for i, a in enumerate(means) for b in means[i + 1:]) > 3, view
    features, _ = _background_features(tiny_synthpie)
    brightness = features[:, :3].mean(1)
    assert np.ptp(features[:, :3], axis=0).min() > 100  # every channel, across the tree
    assert (brightness > 170).sum() >= 10 and (brightness < 60).sum() >= 10  # light walls and dark rooms
    assert np.median(features[:, 3:].mean(1)) > 3  # textured, not flat: more than sensor noise


def test_background_carries_no_identity(tiny_synthpie):
    """A subject's images are no more alike in background than two subjects' (DESIGN.md, the first trap)."""
    features, subjects = _background_features(tiny_synthpie)
    z = (features - features.mean(0)) / features.std(0)
    dist = np.linalg.norm(z[:, None] - z[None], axis=-1)
    same = subjects[:, None] == subjects[None]
    off = ~np.eye(len(z), dtype=bool)
    assert dist[same & off].mean() > 0.9 * dist[~same].mean()
    # the nearest background belongs to the same subject about as often as chance (41 of 251: 16 %)
    np.fill_diagonal(dist, np.inf)
    nearest_same = same[np.arange(len(z)), dist.argmin(1)].mean()
    assert nearest_same < 0.3


def test_looks_vary_and_repeat_for_a_seed():
    looks = [photo.draw_look(np.random.default_rng([0, i, 2])) for i in range(400)]
    assert looks[:50] == [photo.draw_look(np.random.default_rng([0, i, 2])) for i in range(50)]
    assert set(Counter(lk.background for lk in looks)) == set(photo.BACKGROUNDS)
    assert set(Counter(lk.pattern for lk in looks)) == set(photo.PATTERNS)
    shirts = np.array([lk.shirt for lk in looks])
    assert len(np.unique(shirts.round(2), axis=0)) > 300 and np.ptp(shirts.mean(1)) > 0.6  # dark to light clothes
    spans = {"ambient": photo.AMBIENT, "temperature": (-1, 1), "exposure": photo.EXPOSURE_RANGE,
             "skin_detail": photo.SKIN_DETAIL, "blur": photo.LENS_BLUR}
    for name, (lo, hi) in spans.items():
        values = [getattr(lk, name) for lk in looks]
        assert lo <= min(values) and max(values) <= hi and np.ptp(values) > 0.8 * (hi - lo), name
    assert 0.4 < np.mean([lk.extra_light is not None for lk in looks]) < 0.8
    assert 0.5 < np.mean([lk.jpeg is not None for lk in looks]) < 0.9
    assert 0.05 < np.mean([lk.motion is not None for lk in looks]) < 0.3
    assert np.ptp([lk.noise[0] for lk in looks]) > 2 / 255


def _frontal_view(subject=1, framing=studio.Framing()):
    posed = pose(_scene(0, subject, 1, "neutral", 120), rotation(0, 0, 0), np.zeros(3), [studio.flash_direction(7)])
    return look(posed, studio.camera_model("05_1", 160, 120, studio.RecordingPose(0, 0, 0, (0, 0, 0), 1.0), framing))


def test_develop_is_a_function_of_its_stream():
    view = _frontal_view()

    def shot(stream):
        rng = np.random.default_rng(stream)
        return photo.develop(view, 0, np.ones(3, np.float32), photo.draw_look(rng), rng)

    assert np.array_equal(shot([0, 1]), shot([0, 1]))
    assert not np.array_equal(shot([0, 1]), shot([0, 2]))


def test_the_photograph_changes_the_subject_too():
    """Clothing, the room's light, the skin's texture: the subject's pixels differ between two looks of one shot,
    beyond the studio's exposure jitter (which the same gain here leaves out)."""
    view = _frontal_view()
    kernel = np.ones((5, 5), np.uint8)  # two pixels in from every edge: blur mixes what meets there

    def where(plane):
        return cv2.erode(((view.alpha > 0.99) & (plane > 0.99)).astype(np.uint8), kernel).astype(bool)

    cloth, skin = where(view.cloth), where(view.skin)
    assert cloth.sum() > 500 and skin.sum() > 500
    base = photo.draw_look(np.random.default_rng(0))
    plain = replace(base, ambient=1.0, extra_light=None, exposure=1.0, cast=(1.0, 1.0, 1.0), temperature=0.0,
                    skin_detail=0.0, blur=0.4, motion=None, noise=(0.0, 0.0, 0.0), jpeg=None, pattern="plain",
                    shirt=(0.5, 0.5, 0.5), pattern_colour=(0.9, 0.9, 0.9))

    def develop(lk):
        return photo.develop(view, 0, np.ones(3, np.float32), lk, np.random.default_rng(1)).astype(float)

    ref = develop(plain)
    red = develop(replace(plain, shirt=(0.8, 0.1, 0.1)))
    assert red[cloth][:, 0].mean() > ref[cloth][:, 0].mean() + 30 and np.abs(red[skin] - ref[skin]).max() < 2
    striped = develop(replace(plain, pattern="stripes"))
    assert striped[cloth].std(0).mean() > ref[cloth].std(0).mean() + 5
    brighter = develop(replace(plain, ambient=1.4))
    assert brighter[skin].mean() > ref[skin].mean() + 5
    warm = develop(replace(plain, temperature=1.0))
    assert (warm[skin][:, 0] - warm[skin][:, 2]).mean() > (ref[skin][:, 0] - ref[skin][:, 2]).mean() + 5
    textured = develop(replace(plain, skin_detail=0.08))
    assert np.abs(textured[skin] - ref[skin]).mean() > 2 and np.abs(textured[cloth] - ref[cloth]).max() < 2


def test_framing_moves_and_scales_the_head_with_its_landmarks():
    nominal = _frontal_view()
    framed = _frontal_view(framing=studio.Framing(1.15, (0.05, -0.04)))
    centre = np.array([80, 60])
    moved = (nominal.landmarks - centre) * 1.15 + centre + [0.05 * 160, -0.04 * 120]
    np.testing.assert_allclose(framed.landmarks, moved, atol=0.05)

    def crown(view):  # the first row the head covers
        return np.flatnonzero((view.alpha > 0.5).any(axis=1))[0]

    assert abs(crown(framed) - ((crown(nominal) - 60) * 1.15 + 60 - 0.04 * 120)) <= 1.5


def test_framing_is_drawn_per_view_within_its_ranges():
    draws = [studio.draw_framing(np.random.default_rng([0, i, 5])) for i in range(300)]
    scales = np.array([f.scale for f in draws])
    shifts = np.array([f.shift for f in draws])
    assert studio.FRAMING_SCALE[0] <= scales.min() and scales.max() <= studio.FRAMING_SCALE[1]
    assert np.ptp(scales) > 0.25 and np.abs(shifts).max() <= studio.FRAMING_SHIFT and np.ptp(shifts) > 0.08


def test_subject_mask_beside_every_view_covers_the_subject(tiny_synthpie):
    """``<view>_alpha.png``: 8-bit grey at the images' size, 255 on the subject; its visible landmarks lie inside."""
    inside, total, sharpest = 0, 0, []
    for view in _views():
        mask = _mask(tiny_synthpie, view)
        assert mask.dtype == np.uint8 and mask.shape == (TINY.height, TINY.width)
        assert 0.05 < (mask > 127).mean() < 0.8 and mask.min() == 0 and mask.max() == 255
        doc = read_sidecar(tiny_synthpie / landmark_path(view))
        points = np.array(doc["ibug68"])[np.array(doc["ibug68_visible"])]
        x, y = np.round(points).astype(int).T
        ok = (x >= 0) & (x < TINY.width) & (y >= 0) & (y < TINY.height)
        near = cv2.dilate(mask, np.ones((3, 3), np.uint8))  # a point on the silhouette may sit on its soft edge
        inside += (near[y[ok], x[ok]] > 127).sum()
        total += len(points)
        # the subject is where the mask says: its images change most along the mask's edge, more than along the
        # same edge moved by four pixels
        edges = [_edge_strength(cv2.imread(str(tiny_synthpie / replace(view, flash=f).relpath)), mask, shift)
                 for f in TINY.flashes for shift in ((0, 0), (4, 0), (0, 4), (-4, 0), (0, -4))]
        sharpest.append(int(np.argmax(np.sum(np.reshape(edges, (len(TINY.flashes), 5)), axis=0))))
    assert inside == total  # every visible landmark, on the jaw's and lips' edge in profile too
    assert Counter(sharpest)[0] >= 0.95 * len(sharpest)


def _edge_strength(bgr: np.ndarray, mask: np.ndarray, shift: tuple[int, int]) -> float:
    """Mean gradient of the picture along the edge of ``mask`` moved by ``shift`` (x, y) pixels."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gradient = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    moved = cv2.warpAffine(mask, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), mask.shape[::-1])
    binary = (moved > 127).astype(np.uint8)
    edge = cv2.dilate(binary, np.ones((3, 3), np.uint8)) != cv2.erode(binary, np.ones((3, 3), np.uint8))
    edge[[0, -1]] = edge[:, [0, -1]] = False  # the frame's border is no edge of the subject
    return float(gradient[edge].mean())
