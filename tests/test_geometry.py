"""Geometry: the reference face, pose from landmarks, the frontal warp, and the generator that uses it."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from frontalize.data.images import load_square, to_tensor
from frontalize.data.manifest import read_manifest, row_landmarks
from frontalize.data.template import region_boxes
from frontalize.geometry.pose import Pose, crop_pose, estimate_pose, frontal_pose, project, rotation_from_angles
from frontalize.geometry.reference import reference_face
from frontalize.geometry.warp import FrontalWarp

SIZE = 128


@pytest.fixture(scope="module")
def views_at_30(tmp_path_factory):
    """Three SynthPIE subjects seen from 0 and +-30 degrees under flash 07, prepared at 128 px."""
    from frontalize.preparation.prep import PrepConfig, prepare
    from frontalize.synthpie.generate import PRESETS, render_unit

    root = tmp_path_factory.mktemp("views_at_30")
    preset = replace(PRESETS["small"], cameras=("05_1", "13_0", "04_1"), flashes=(7,), recordings=(1,))
    for subject in (1, 2, 3):
        render_unit(root / "tree", preset, 0, subject, 1, 1)
    prepare(PrepConfig(root=root / "tree", out=root / "prepared", size=SIZE, workers=1, progress=False,
                       protocols=("session01",)))
    rows = read_manifest(root / "prepared", "session01", SIZE).rows
    return root / "prepared", {(int(r["subject"]), r["camera"]): r for r in rows}


def _warp(crop_row, prepared, warp=None) -> tuple[torch.Tensor, torch.Tensor, object]:
    x = to_tensor(load_square(prepared / crop_row["crop_path"], SIZE))[None]
    pose = crop_pose(row_landmarks(crop_row), SIZE, yaw=float(crop_row["yaw"]))[0]
    out = (warp or FrontalWarp(SIZE))(x, torch.from_numpy(pose.as_vector())[None])
    return x, out.picture, out


def _face_l1(a: torch.Tensor, b: torch.Tensor) -> float:
    x0, y0, x1, y1 = region_boxes(SIZE)["face"]
    return float((a[..., y0:y1, x0:x1] - b[..., y0:y1, x0:x1]).abs().mean())


def test_the_reference_face_is_a_face_in_the_template():
    ref = reference_face(SIZE)
    assert ref.depth.shape == (SIZE, SIZE) and np.isfinite(ref.depth).all()
    five = ref.five
    assert five[0, 0] < five[2, 0] < five[1, 0] and five[3, 0] < five[4, 0]  # MTCNN order, image-left first
    assert five[2, 2] < five[[0, 1, 3, 4], 2].min() - 0.1 * SIZE  # the nose tip stands well in front of eyes and mouth
    centre = ref.depth[SIZE // 2 - 10 : SIZE // 2 + 10, SIZE // 2 - 10 : SIZE // 2 + 10].min()
    assert centre < ref.depth[SIZE // 2, 10]  # the face's middle is nearer than its side
    assert reference_face(SIZE) is reference_face(SIZE)  # built once
    big = reference_face(224)
    assert np.allclose(big.five[:, :2] / 224, five[:, :2] / SIZE, atol=0.01)  # the same face at another size


@pytest.mark.parametrize("yaw", [-90, -45, 0, 30, 75])
def test_pose_is_recovered_from_exact_landmarks(yaw):
    ref = reference_face(SIZE)
    truth = Pose(rotation_from_angles(yaw, 6, -4), np.array([3.0, -2.0, 640.0]))
    # the upright prior pulls pitch and roll a little towards 0 where five points say little about them
    for model, tilt in ((ref.five, 4.0), (ref.ibug68, 0.5)):
        got = estimate_pose(project(model, truth, SIZE), SIZE)
        assert abs(got.angles[0] - yaw) < 0.5 and np.allclose(got.angles[1:], truth.angles[1:], atol=tilt)
        assert np.allclose(got.translation[:2], truth.translation[:2], atol=1)


def test_pose_from_landmarks_recovers_each_synthpie_cameras_yaw(prepared_tiny):
    """Ground-truth landmarks of `tiny` (the recording's head turns by a few degrees): within 8 degrees everywhere."""
    out, _ = prepared_tiny
    rows = read_manifest(out, "session01", 64).rows
    errors = {}
    for r in rows:
        yaw = crop_pose(row_landmarks(r), 64)[0].angles[0]
        errors.setdefault(int(r["yaw"]), []).append(abs(yaw - int(r["yaw"])))
        assert abs(float(r["pose"].split()[0]) - yaw) < 0.5  # the pose preparation stored is this one
    assert sorted(errors) == [-90, -45, -15, 0, 15, 45, 90]
    assert all(np.median(e) < 8 for e in errors.values()), {k: float(np.median(v)) for k, v in errors.items()}


def test_a_frontal_face_at_frontal_pose_comes_back_as_itself(views_at_30):
    prepared, rows = views_at_30
    for subject in (1, 2, 3):
        x, warped, out = _warp(rows[(subject, "05_1")], prepared)
        assert _face_l1(warped, x) < 0.08  # the pose fitted to five landmarks is a few degrees from frontal
        exact = FrontalWarp(SIZE)(x, torch.from_numpy(frontal_pose(SIZE).as_vector())[None])
        assert _face_l1(exact.picture, x) < 1e-4  # at exactly the frontal pose, exactly itself
        assert out.seen.mean() > 0.95  # nothing to mirror


def test_a_head_at_30_degrees_warps_closer_to_its_frontal_view(views_at_30):
    prepared, rows = views_at_30
    warp = FrontalWarp(SIZE)
    ratios = []
    for subject in (1, 2, 3):
        frontal = to_tensor(load_square(prepared / rows[(subject, "05_1")]["crop_path"], SIZE))[None]
        for camera in ("13_0", "04_1"):
            x, warped, _ = _warp(rows[(subject, camera)], prepared, warp)
            ratios.append(_face_l1(warped, frontal) / _face_l1(x, frontal))
    assert max(ratios) < 1 and np.mean(ratios) < 0.85, ratios  # every one closer, and clearly so on average


@pytest.mark.parametrize("yaw", [90, -90])
def test_at_profile_the_visibility_mask_covers_the_far_half(yaw):
    warp = FrontalWarp(SIZE)
    pose = Pose(rotation_from_angles(yaw), frontal_pose(SIZE).translation)
    _, seen = warp.grid(torch.from_numpy(pose.as_vector())[None])
    face = torch.from_numpy(reference_face(SIZE).face)
    seen = seen[0, 0]
    left, right = face.clone(), face.clone()
    left[:, SIZE // 2 - 4 :] = False
    right[:, : SIZE // 2 + 4] = False
    # +90: the camera stands on the subject's left, the image's right in the frontal layout; the other half is hidden
    near, far = (right, left) if yaw > 0 else (left, right)
    assert seen[far].mean() < 0.15 and seen[near].mean() > 0.85


@pytest.mark.parametrize("mode", ["pixels", "features"])
def test_gradients_reach_the_generator_and_its_input_through_the_warp(mode):
    from frontalize.models.generator import Generator

    torch.manual_seed(0)
    g = Generator(64, width=0.125, geometry=mode)
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    pose = torch.from_numpy(np.stack([Pose(rotation_from_angles(y), frontal_pose(64).translation).as_vector() for y in (30, -60)]))
    outs = g(x, pose)
    assert [o.shape[-1] for o in outs] == [16, 32, 64]
    outs[-1].mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # grid_sample carries gradients back to the input
    assert g.encoder.blocks[0]["conv1_1"].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="needs the inputs' poses"):
        g(x)


def test_the_geometry_generator_starts_from_the_warped_picture():
    from frontalize.models.generator import Generator

    torch.manual_seed(0)
    g = Generator(64, width=0.125, geometry="pixels")
    with torch.no_grad():
        for rgb in g.to_rgb:  # no residual: the output is the warped picture
            rgb.weight.zero_()
            rgb.bias.zero_()
        x = torch.rand(1, 3, 64, 64) * 1.6 - 0.8
        pose = torch.from_numpy(Pose(rotation_from_angles(20), frontal_pose(64).translation).as_vector())[None]
        assert torch.allclose(g(x, pose)[-1], g.warp(x, pose).picture, atol=1e-5)


def test_mirroring_a_training_pair_mirrors_its_pose(prepared_tiny):
    from frontalize.training.data import ProfilePairs, paired_augment

    out, _ = prepared_tiny
    rows = read_manifest(out, "setting1", 64).rows
    plain = ProfilePairs(out, rows, 64, None, geometry=True)
    mirrored = ProfilePairs(out, rows, 64, paired_augment(64, 1.0, True, landmarks=True), geometry=True, mirror=True)
    i = next(i for i, r in enumerate(plain.rows) if r["camera"] == "19_0")  # +45 degrees
    x0, _, _, pose0 = plain[(i, 0)]
    seeds = [s for s in range(20) if np.random.default_rng(s).random() < 0.5][:2]  # draws that mirror
    for seed in seeds:
        x, _, _, pose = mirrored[(i, seed)]
        assert torch.equal(x, torch.flip(x0, dims=[2]))
        yaw0, yaw = (Pose(p[:9].numpy().reshape(3, 3).astype(np.float64), p[9:].numpy()).angles[0] for p in (pose0, pose))
        assert yaw0 > 30 and yaw == pytest.approx(-yaw0, abs=2)  # the mirror image of a +45 view is a -45 view
