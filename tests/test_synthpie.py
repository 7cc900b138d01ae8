"""SynthPIE: Multi-PIE layout, determinism, resumability, landmarks, identity in shape, realism."""
import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from frontalize.data.multipie import CAMERA_BY_NAME, parse_relpath
from frontalize.synthpie.generate import (
    PRESETS, SynthPIEError, generate, landmark_path, read_sidecar, render_unit, unit_shots,
)

NAME = re.compile(r"^data/session01/multiview/(\d{3})/(0[12])/(\d\d_\d)/\1_01_\2_(\d{3})_(\d\d)\.png$")


def _digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.png"))}


def test_tree_has_exact_multipie_layout(tiny_synthpie):
    preset = PRESETS["tiny"]
    pngs = sorted(tiny_synthpie.rglob("*.png"))
    assert len(pngs) == preset.n_images
    for p in pngs:
        rel = p.relative_to(tiny_synthpie).as_posix()
        m = NAME.match(rel)
        assert m, rel
        assert m.group(4) == m.group(3).replace("_", "")  # camera code in the name matches the folder
        shot = parse_relpath(p)
        assert shot.camera in preset.cameras and shot.flash in preset.flashes
        assert (tiny_synthpie / landmark_path(shot)).exists()
    img = cv2.imread(str(pngs[0]))
    assert img.shape == (preset.height, preset.width, 3)


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tiny_synthpie, tmp_path):
    preset = PRESETS["tiny"]
    render_unit(tmp_path / "a", preset, 0, 2, 1, 2)
    render_unit(tmp_path / "b", preset, 1, 2, 1, 2)
    ours = _digest(tmp_path / "a")
    reference = {k: v for k, v in _digest(tiny_synthpie).items() if k.startswith("data/session01/multiview/002/02/")}
    assert ours == reference and len(ours) == len(preset.cameras) * len(preset.flashes)
    assert set(_digest(tmp_path / "b").values()).isdisjoint(ours.values())


def test_resume_rewrites_only_what_is_missing(tmp_path):
    small = replace(PRESETS["tiny"], subjects=1, cameras=("05_1", "19_0"), flashes=(7,))
    PRESETS["_resume_test"] = small
    try:
        first = generate(tmp_path, "_resume_test", seed=0, workers=1, progress=False)
        assert first["written"] == 4
        before = _digest(tmp_path)
        victim = sorted(tmp_path.rglob("*.png"))[1]
        victim.unlink()
        again = generate(tmp_path, "_resume_test", seed=0, workers=1, progress=False)
        assert again["written"] == 1 and _digest(tmp_path) == before
        assert not list(tmp_path.rglob("*.tmp"))  # no half-written files left behind
    finally:
        del PRESETS["_resume_test"]


def test_refuses_foreign_or_mismatched_folders(tmp_path):
    (tmp_path / "holiday.jpg").write_bytes(b"not ours")
    with pytest.raises(SynthPIEError, match="not a SynthPIE tree"):
        generate(tmp_path, "tiny", progress=False)
    assert (tmp_path / "holiday.jpg").read_bytes() == b"not ours"
    other = tmp_path / "other"
    other.mkdir()
    (other / "synthpie.json").write_text(json.dumps({"preset": "small", "seed": 0}))
    with pytest.raises(SynthPIEError, match="refusing to mix"):
        generate(other, "tiny", progress=False)


def test_sidecar_landmarks_and_visibility(tiny_synthpie):
    def sidecar(cam):
        shot = unit_shots(PRESETS["tiny"], 1, 1, 1)[0]
        return read_sidecar(tiny_synthpie / landmark_path(replace(shot, camera=cam)))

    front, left_profile, right_profile = sidecar("05_1"), sidecar("11_0"), sidecar("24_0")
    assert len(front["ibug68"]) == 68 and len(front["five"]) == 5
    assert all(front["five_visible"])
    eye_l, eye_r, nose, mouth_l, mouth_r = np.array(front["five"])
    assert eye_l[0] < nose[0] < eye_r[0] and mouth_l[0] < mouth_r[0]  # image-left first, as MTCNN orders
    assert max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    # at -90 degrees the camera sees the subject's right side: the image-left eye (subject's right) only
    assert left_profile["five_visible"][:2] == [True, False]
    assert right_profile["five_visible"][:2] == [False, True]
    # positive yaw: nose points to the image's left of the eyes (documented sign convention)
    eyes_x = np.array(right_profile["five"])[1][0]
    assert np.array(right_profile["five"])[2][0] < eyes_x
    assert CAMERA_BY_NAME["24_0"].yaw == 90


def _profile_mask(root, subject, flash):
    p = root / f"data/session01/multiview/{subject:03d}/01/24_0/{subject:03d}_01_01_240_{flash:02d}.png"
    img = cv2.imread(str(p)).astype(int)
    return np.abs(img - img[2, 2]).sum(-1) > 12  # the corner is studio background


def test_identity_lives_in_the_profile_silhouette(tiny_synthpie):
    same_subject = (_profile_mask(tiny_synthpie, 1, 7) != _profile_mask(tiny_synthpie, 1, 10)).mean()
    diffs = [
        (_profile_mask(tiny_synthpie, a, 7) != _profile_mask(tiny_synthpie, b, 7)).mean()
        for a, b in [(1, 2), (2, 3), (3, 4), (4, 5)]
    ]
    assert min(diffs) > 5 * max(same_subject, 1e-3)


def test_background_carries_no_identity(tiny_synthpie):
    corners = []
    for subject in range(1, PRESETS["tiny"].subjects + 1):
        for p in sorted((tiny_synthpie / f"data/session01/multiview/{subject:03d}").rglob("*_07.png")):
            img = cv2.imread(str(p))
            corners.append(img[:8, :8].reshape(-1, 3).mean(0))
    corners = np.array(corners)
    assert np.ptp(corners, axis=0).max() < 3.0  # the same studio grey for everyone, up to sensor noise


def test_realism_bar_on_a_sample_of_small(tmp_path):
    """MTCNN, trained on real photos, finds our faces and lands its landmarks on ours."""
    from frontalize.face.detect import FaceDetector
    from frontalize.synthpie.realism import BAR_CAMERAS, measure, sample_images

    preset = replace(PRESETS["small"], cameras=BAR_CAMERAS)
    for subject in range(1, 7):
        for recording in (1, 2):
            render_unit(tmp_path, preset, 0, subject, 1, recording)
    result = measure(tmp_path, sample_images(tmp_path, 10**6), FaceDetector())
    assert result["bar_detection_rate"] >= 0.90
    assert result["bar_median_error_iod"] <= 0.10
    assert result["passes"]
