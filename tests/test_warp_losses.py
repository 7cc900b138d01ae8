"""Where the warp loses (issue 20): the oracles (SynthPIE's true pose, the subject's own head), the region split of
image quality, and the benchmark that puts them together."""
import json

import cv2
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from frontalize.data.images import load_batch, to_uint8
from frontalize.data.manifest import read_manifest, row_landmarks
from frontalize.data.template import region_boxes
from frontalize.geometry.oracle import CropView, crop_similarity, pose_as_target_shows, sidecar_of, subject_reference, true_pose
from frontalize.geometry.pose import Pose, estimate_pose, frontal_pose, project, rotation_from_angles
from frontalize.geometry.reference import reference_face, reference_from_heads, turned
from frontalize.geometry.warp import FrontalWarp
from frontalize.evaluation.quality import l1_by_region, ssim_by_region
from frontalize.synthpie.generate import subject_params
from frontalize.synthpie.head import Head

SIZE = 64  # prepared_tiny's crops


@pytest.fixture(scope="module")
def setting1(prepared_tiny):
    out, _ = prepared_tiny
    manifest = read_manifest(out, "setting1", SIZE)
    return out, manifest, {r["crop_path"]: r for r in manifest.rows}


def _view(root, row) -> CropView:
    return CropView(sidecar_of(root, row["source_path"]), row["camera"], row_landmarks(row))


def _true_ibug68(view: CropView) -> tuple[np.ndarray, np.ndarray]:
    """SynthPIE's 68 landmarks carried into the crop, and which of them the camera sees."""
    crop = crop_similarity(np.asarray(view.sidecar["five"]), view.landmarks)
    points = np.c_[np.asarray(view.sidecar["ibug68"]), np.ones(68)] @ crop[:2].T
    return points, np.asarray(view.sidecar["ibug68_visible"])


def _rows(manifest, yaws, flash="7"):
    return [r for r in manifest.rows if int(r["yaw"]) in yaws and r["flash"] == flash and r["target_path"]]


def test_a_one_head_reference_is_that_head_built_as_the_mean_is():
    head = Head(subject_params(0, 3))
    own = reference_from_heads([head])
    twice = reference_from_heads([head, head])  # the mean of one head's copies is that head
    np.testing.assert_allclose(twice.depth, own.depth, atol=1e-4)
    np.testing.assert_array_equal(twice.face, own.face)
    np.testing.assert_allclose(twice.five, own.five, atol=1e-4)
    other = reference_from_heads([Head(subject_params(0, 4))])
    assert own.size == reference_face(own.size).size
    assert own.face.sum() > reference_face(own.size).face.sum()  # one head covers its whole outline, hair included
    assert np.abs(own.five[:, :2] - reference_face(own.size).five[:, :2]).max() < 2.0  # aligned to the same template
    assert np.abs(own.depth - other.depth)[own.face & other.face].mean() > 0.5  # and its shape is its own
    assert subject_reference(0, 3, own.size) is subject_reference(0, 3, own.size)
    np.testing.assert_array_equal(subject_reference(0, 3, own.size).depth, own.depth)


def test_the_true_pose_reprojects_the_true_landmarks(tiny_synthpie, setting1):
    """Frontal and +-45 views: the subject's own head in the true pose lands SynthPIE's 68 landmarks within a small
    fraction of a pixel (pitch or roll of the wrong sign, or no line-of-sight correction, land them 2-4x farther);
    the mean head within a pixel or two (its shape is not the subject's)."""
    _, manifest, by_crop = setting1
    rows = _rows(manifest, (-45, 0, 45))
    assert {int(r["yaw"]) for r in rows} == {-45, 0, 45}
    for row in rows:
        view = _view(tiny_synthpie, row)
        truth, visible = _true_ibug68(view)
        own = subject_reference(0, int(row["subject"]), SIZE)
        for pose, ref in ((true_pose(view, SIZE, own), own),
                          pose_as_target_shows(view, _view(tiny_synthpie, by_crop[row["target_path"]]), SIZE, own)):
            error = np.linalg.norm(project(ref.ibug68, pose, SIZE) - truth, axis=1)[visible]
            assert np.median(error) < 0.12, (row["crop_path"], np.median(error))
        mean_pose = true_pose(view, SIZE)
        five_error = np.linalg.norm(project(reference_face(SIZE).five, mean_pose, SIZE) - view.landmarks, axis=1)
        assert five_error.max() < 2.0


def test_a_reference_turned_by_the_frontal_pose_is_itself_and_a_turned_one_shows_the_turned_face():
    ref = reference_face(SIZE)
    same = turned(ref, frontal_pose(SIZE).rotation, frontal_pose(SIZE).translation)
    both = ref.face & same.face
    assert both.sum() > 0.98 * ref.face.sum()
    np.testing.assert_allclose(same.depth[both], ref.depth[both], atol=1e-3)
    rotation, translation = rotation_from_angles(4, 3, -2), np.array([0.5, -1.0, 1.02 * frontal_pose(SIZE).translation[2]])
    turn = turned(ref, rotation, translation)
    np.testing.assert_allclose(project(turn.ibug68, frontal_pose(SIZE), SIZE),
                               project(ref.ibug68, Pose(rotation, translation), SIZE), atol=1e-6)
    # each turned pixel's point, taken back to the reference's frame, lies on the reference's surface
    points = turn.points()[turn.face] + np.array([0.0, 0.0, frontal_pose(SIZE).translation[2]])
    back = (points - translation) @ rotation  # R^T (p - t), row vectors
    pixel = project(back, frontal_pose(SIZE), SIZE)
    depth = cv2.remap(ref.depth, *pixel.astype(np.float32)[:, None, :].transpose(2, 0, 1), cv2.INTER_LINEAR)[:, 0]
    ray_depth = back[:, 2]  # the reference's points lie on the frontal camera's rays: their z is the map's depth
    assert np.median(np.abs(ray_depth - depth)) < 0.01
    assert np.abs(turn.depth - ref.depth)[turn.face & ref.face].mean() > 0.3


def _face_ssim(picture: torch.Tensor, target: torch.Tensor) -> float:
    x0, y0, x1, y1 = region_boxes(SIZE)["face"]
    a, b = to_uint8(picture)[y0:y1, x0:x1], to_uint8(target)[y0:y1, x0:x1]
    return structural_similarity(b, a, channel_axis=2, data_range=255)


def test_the_own_head_warps_a_subject_closer_to_its_frontal_target_than_the_mean_head(tiny_synthpie, setting1):
    """At +-45 degrees, in the true pose: the subject's own head beats the mean head, and it is its surface that does
    (the pose fitted to the own head's landmarks, warped with the mean head's surface, does not)."""
    prepared, manifest, by_crop = setting1
    rows = _rows(manifest, (-45, 45))
    total, surface = [], []
    for row in rows:
        x = load_batch(prepared, [row["crop_path"]], SIZE, "cpu")
        target_row = by_crop[row["target_path"]]
        target = load_batch(prepared, [target_row["crop_path"]], SIZE, "cpu")[0]
        view, target_view = _view(tiny_synthpie, row), _view(tiny_synthpie, target_row)
        mean_pose, mean_shown = pose_as_target_shows(view, target_view, SIZE, reference_face(SIZE))
        own_pose, own_shown = pose_as_target_shows(view, target_view, SIZE, subject_reference(0, int(row["subject"]), SIZE))

        def score(pose, shown) -> float:
            return _face_ssim(FrontalWarp(SIZE, shown)(x, torch.from_numpy(pose.as_vector())[None]).picture[0], target)

        own = score(own_pose, own_shown)
        total.append(own - score(mean_pose, mean_shown))
        surface.append(own - score(own_pose, mean_shown))
    assert len(total) >= 4
    for gains in (total, surface):
        assert np.mean(gains) > 0.02 and np.mean(np.array(gains) > 0) >= 0.75, gains


def test_the_pose_is_estimated_against_the_reference_given():
    own = subject_reference(0, 3, SIZE)
    pose = Pose(rotation_from_angles(30, 0, 0), np.array([1.0, 2.0, frontal_pose(SIZE).translation[2]]))
    five = project(own.five, pose, SIZE)
    fitted = estimate_pose(five, SIZE, reference=own)
    assert np.abs(project(own.five, fitted, SIZE) - five).max() < 0.05
    assert abs(fitted.angles[0] - 30) < 0.5
    with_mean = estimate_pose(five, SIZE)  # the mean head's landmarks cannot all land on another head's
    assert np.abs(project(reference_face(SIZE).five, with_mean, SIZE) - five).max() > 0.2


def test_a_warp_refuses_a_reference_of_another_size():
    with pytest.raises(ValueError, match="reference face of that size"):
        FrontalWarp(SIZE, reference_face(2 * SIZE))


def test_the_region_split_of_ssim_and_l1_sums_to_the_whole():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    part = np.zeros(target.shape[:2], bool)
    part[5:30, 10:20] = True
    noise = rng.integers(-20, 21, target.shape) * np.where(part, 4, 1)[..., None]  # the part is the worse one
    result = np.clip(target.astype(int) + noise, 0, 255).astype(np.uint8)
    whole, regions = ssim_by_region(result, target, {"in": part, "out": ~part, "all": np.ones_like(part)})
    assert whole == pytest.approx(structural_similarity(target, result, channel_axis=2, data_range=255), abs=1e-12)
    (m_in, n_in), (m_out, n_out) = regions["in"], regions["out"]
    assert n_in + n_out == (40 - 6) * (48 - 6)  # scikit-image's mean leaves out the window's border
    assert (m_in * n_in + m_out * n_out) / (n_in + n_out) == pytest.approx(whole, abs=1e-9)
    assert regions["all"][0] == pytest.approx(whole, abs=1e-9)
    assert m_in < m_out - 0.1  # the split tells the regions apart
    l1 = l1_by_region(result, target, {"in": part, "out": ~part})
    full = np.abs(result.astype(float) - target).mean() / 255
    assert (l1["in"][0] * l1["in"][1] + l1["out"][0] * l1["out"][1]) / part.size == pytest.approx(full, abs=1e-12)
    _, empty = ssim_by_region(result, target, {"none": np.zeros_like(part)})
    assert np.isnan(empty["none"][0]) and empty["none"][1] == 0


def test_the_benchmark_scores_every_variant_by_yaw_flash_and_region(tiny_synthpie, setting1, tmp_path):
    from conftest import random_recognizer

    from frontalize.bench.warp_losses import RANK1_VARIANTS, VARIANTS, measure

    prepared, manifest, _ = setting1
    (tmp_path / "recognizer" / "001-shared").mkdir(parents=True)
    from frontalize.runs.provenance import TrainedOn

    # random weights: of the data's people, it saw nobody (a record the benchmark can check)
    random_recognizer(tmp_path / "recognizer" / "001-shared" / "recognizer.pt", seed=1,
                      record=TrainedOn(manifest.dataset, "setting1", None, ()))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the benchmark runs it: many small warps
    try:
        result = measure(prepared, tiny_synthpie, tmp_path, per_yaw=2, rank1_per_yaw=1, size=SIZE)
    finally:
        torch.set_num_threads(threads)
    json.dumps(result)  # the runner writes it as JSON
    yaws = sorted({int(r["yaw"]) for r in manifest.rows if r["role"] == "probe"})
    flashes = sorted({int(r["flash"]) for r in manifest.rows if r["role"] == "probe"})
    for variant in VARIANTS:
        table = result["quality"][variant]
        assert set(table) == {"all", *flashes}
        assert set(table["all"]) == set(yaws) - {0}  # at 0 degrees a probe is its own target: left out
        for entry in table["all"].values():
            assert 0 < entry["ssim_face"] <= 1 and 0 < entry["ssim_crop"] <= 1
            assert entry["n_ssim_face"] == entry["probes"]
            assert entry["n_ssim_face_mirrored"] <= entry["probes"]
    q = result["quality"]
    rank1 = result["rank1"]["all"]
    assert set(rank1) == set(yaws)
    assert set(rank1[yaws[0]]) == {"raw", *RANK1_VARIANTS, "probes"}  # the shared recognizer's columns, no judge's
    assert "none under" in result["recognizers"]["judge"]
    yaws_of = {f: {int(r["yaw"]) for r in manifest.rows if r["role"] == "probe" and int(r["flash"]) == f} for f in flashes}
    assert result["rank1_probes"] == {**{str(f): len(yaws_of[f]) for f in flashes}, "all": sum(map(len, yaws_of.values()))}
    assert result["quality_probes"] == 2 * (len(yaws) - 1) * len(flashes)
    for y in (-45, 45):  # the face box is the seen part and the mirrored part together; at +-45 much is mirrored
        entry = q["shipped"]["all"][y]
        assert entry["ssim_face_mirrored"] < entry["ssim_face"] < entry["ssim_face_seen"]
        assert entry["mirrored_share"] > q["shipped"]["all"][15 * (y // 45)]["mirrored_share"] + 0.05
    # the oracle pose and shape bring the warp closer to the target at +-45 than the shipped warp
    side = [y for y in yaws if abs(y) == 45]
    assert np.mean([q["oracles"]["all"][y]["ssim_face"] for y in side]) > np.mean([q["shipped"]["all"][y]["ssim_face"] for y in side])


def test_the_benchmark_says_what_data_it_lacks(tmp_path, monkeypatch, setting1):
    from frontalize.bench.warp_losses import warp_losses

    threads = torch.get_num_threads()
    monkeypatch.setenv("FRONTALIZE_BENCH_DATA", str(tmp_path))
    try:
        assert "prepare the data first" in warp_losses(quick=True)["skipped"]
        manifests = tmp_path / "prepared" / "manifests"  # a manifest without the SynthPIE tree it came from
        manifests.mkdir(parents=True)
        (manifests / "setting1_128.csv").write_text((setting1[0] / "manifests" / f"setting1_{SIZE}.csv").read_text())
        assert "not a SynthPIE tree" in warp_losses(quick=True)["skipped"]
    finally:
        torch.set_num_threads(threads)
