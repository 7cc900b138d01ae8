"""Geometry: the reference face, pose from landmarks, the frontal warp, and the generator that uses it."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from frontalize.data.images import load_square, to_tensor
from frontalize.data.manifest import read_manifest, row_landmarks
from frontalize.data.template import region_boxes, template_points
from frontalize.geometry.pose import (
    Pose, camera_rotation, crop_pose, estimate_pose, frontal_pose, nominal_pose, project, rotation_from_angles,
)
from frontalize.geometry.reference import reference_face
from frontalize.geometry.warp import FrontalWarp, mirror_about_midline

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


@pytest.fixture(scope="module")
def raised_views(tmp_path_factory):
    """Four SynthPIE subjects seen by the raised cameras 08_1 and 19_1 (and 05_1), flash 07, prepared at 128 px."""
    from frontalize.preparation.prep import PrepConfig, prepare
    from frontalize.synthpie.generate import PRESETS, render_unit

    root = tmp_path_factory.mktemp("raised")
    preset = replace(PRESETS["small"], cameras=("05_1", "08_1", "19_1"), flashes=(7,), recordings=(1,))
    for subject in (1, 2, 3, 4):
        render_unit(root / "tree", preset, 0, subject, 1, 1)
    prepare(PrepConfig(root=root / "tree", out=root / "prepared", size=SIZE, workers=1, progress=False,
                       protocols=("session01",)))
    return read_manifest(root / "prepared", "session01", SIZE).rows


def test_raised_cameras_poses_are_centred_on_their_elevation(raised_views):
    """08_1 / 19_1 look down from 20 degrees at +-45: the head appears pitched 14 and rolled -+14 degrees.  With the
    upright prior centred on 0 five points gave about 9 and 9 (issue #19); centred on the camera, within 3."""
    for camera, sign in (("08_1", -1), ("19_1", 1)):
        truth = Pose(camera_rotation(45 * sign, 20), np.zeros(3)).angles
        assert truth[1] == pytest.approx(14.0, abs=0.5) and truth[2] == pytest.approx(-14.4 * sign, abs=0.5)
        stored = np.array([[float(v) for v in r["pose"].split()] for r in raised_views if r["camera"] == camera])
        assert len(stored) == 4
        errors = np.abs(stored[:, 1:] - np.array(truth[1:]))
        assert np.median(errors) < 2.5 and errors.max() < 4, (camera, stored)
        # the camera prior's fallback (no measured eyes) takes the elevation too
        five = row_landmarks(next(r for r in raised_views if r["camera"] == camera))
        nominal = nominal_pose(45 * sign, five, SIZE, elevation=20).angles
        assert np.allclose(nominal, truth, atol=0.1)
    assert Pose(camera_rotation(30, 0), np.zeros(3)).angles == pytest.approx((30, 0, 0), abs=1e-6)


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
        face = torch.from_numpy(reference_face(SIZE).face)
        assert out.seen[0, 0][face].mean() > 0.95  # nothing of the face to mirror (beyond the crop is unseen)


def test_the_templates_midline_is_at_half_the_crop():
    """The premise of the mirrored filling: the reference's left and right landmarks mirror about x = S/2."""
    template = template_points(SIZE)  # crop pixels, centres at integers
    five = reference_face(SIZE).five  # template frame: x = 0 is pixel S/2
    for left, right in ((0, 1), (3, 4)):
        assert template[left, 0] + template[right, 0] == pytest.approx(SIZE, abs=0.3)
        assert five[left, 0] + five[right, 0] == pytest.approx(0, abs=0.5)  # a midline at (S - 1)/2 would give -1
    assert template[2, 0] == pytest.approx(SIZE / 2, abs=0.3) and five[2, 0] == pytest.approx(0, abs=0.3)


def test_hidden_points_are_filled_from_their_mirror_across_the_midline(monkeypatch):
    """A face symmetric about x = S/2 whose left half is hidden comes back unchanged (torch.flip alone mirrors about
    (S - 1)/2 and shifts every filled pixel by one)."""
    half = torch.rand(1, 3, SIZE, SIZE // 2 + 1) * 2 - 1
    x = torch.cat([half, torch.flip(half[..., 1:-1], dims=[3])], dim=3)  # column c equals column S - c
    assert torch.equal(mirror_about_midline(x)[..., 1:], x[..., 1:])
    columns = torch.arange(SIZE).repeat(SIZE)
    monkeypatch.setattr(FrontalWarp, "seen", lambda self, uv, depth, rotation: (columns >= SIZE // 2)[None])
    out = FrontalWarp(SIZE)(x, torch.from_numpy(frontal_pose(SIZE).as_vector())[None])
    assert out.visible[..., : SIZE // 4].max() < 0.01  # the left half really is filled from the mirror
    assert (out.picture - x)[..., 1:].abs().max() < 1e-4


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
    # +90: the camera stands on the subject's right, the image's left in the frontal layout; the other half is hidden
    near, far = (left, right) if yaw > 0 else (right, left)
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
