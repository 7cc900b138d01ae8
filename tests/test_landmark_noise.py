"""Training landmarks that carry MTCNN's error (data.landmark_noise=mtcnn): the model, and the poses it moves."""
import numpy as np
import pytest

from frontalize.data.manifest import read_manifest, row_landmarks
from frontalize.data.multipie import CAMERA_BY_NAME, CAMERAS
from frontalize.face.mtcnn_error import MEASURED_AT, MIN_DETECTION_RATE, MTCNN_ERROR, error_of, perturb
from frontalize.geometry.pose import Pose, poses_of
from frontalize.training.data import ProfilePairs, paired_augment


def _yaw(vector) -> float:
    v = np.asarray(vector, np.float64)
    return Pose(v[:9].reshape(3, 3), v[9:]).angles[0]


@pytest.fixture(scope="module")
def rows(prepared_tiny):
    out, _ = prepared_tiny
    return out, read_manifest(out, "setting1", 64).rows


def _pairs(prepared, rows, noise, augment=None, mirror=False):
    return ProfilePairs(prepared, rows, 64, augment, geometry=True, mirror=mirror, landmark_noise=noise)


def _index(ds, camera):
    return next(i for i, r in enumerate(ds.rows) if r["camera"] == camera)


def test_every_camera_has_a_model_that_draws_its_measured_error():
    assert set(MTCNN_ERROR) == {c.name for c in CAMERAS}
    for cam in CAMERAS:
        e = error_of(cam.name)
        assert e.detection_rate >= MIN_DETECTION_RATE and np.sign(e.yaw) == np.sign(cam.yaw)
        assert MTCNN_ERROR[cam.name].yaw == cam.yaw
    # draws at another crop size: the table's bias and spread, scaled
    e = error_of("08_1")
    rng = np.random.default_rng(0)
    noise = np.stack([perturb(np.zeros((5, 2)), "08_1", 64, rng) for _ in range(4000)]) * (MEASURED_AT / 64)
    total = np.sqrt(np.asarray(e.shared) ** 2 + np.asarray(e.spread) ** 2)
    assert np.all(np.abs(noise.mean(0) - np.asarray(e.bias)) < 4 * total / np.sqrt(len(noise)) + 0.01)
    assert np.allclose(noise.std(0), total, rtol=0.1)
    # the five points share one shift: the spread of their mean is the table's shared spread
    expected_shared = np.sqrt(np.asarray(e.shared) ** 2 + (np.asarray(e.spread) ** 2).mean(0) / 5)
    assert np.allclose(noise.mean(1).std(0), expected_shared, rtol=0.1)


def test_a_camera_too_rarely_detected_borrows_its_nearest_neighbour_on_the_same_side(monkeypatch):
    from frontalize.face import mtcnn_error

    table = dict(MTCNN_ERROR)
    table["11_0"] = mtcnn_error.LandmarkError(-90, 0.05, None, None, None)
    table["24_0"] = mtcnn_error.LandmarkError(90, 0.1, MTCNN_ERROR["24_0"].bias, MTCNN_ERROR["24_0"].shared,
                                              MTCNN_ERROR["24_0"].spread)
    monkeypatch.setattr(mtcnn_error, "MTCNN_ERROR", table)
    assert error_of("11_0") is table["12_0"] and error_of("24_0") is table["01_0"]
    with pytest.raises(KeyError, match="no MTCNN error model for camera '99_9'"):
        error_of("99_9")


def test_without_the_option_nothing_changes(rows):
    prepared, manifest = rows
    ds = _pairs(prepared, manifest, "none")
    for camera in ("08_0", "19_0", "05_0"):
        i = _index(ds, camera)
        row = ds.rows[i]
        expected = poses_of([row_landmarks(row)], [float(row["yaw"])], 64, [0.0])[0]
        for seed in (1, 2):
            assert np.array_equal(ds[(i, seed)][3].numpy(), expected)


@pytest.mark.parametrize("camera", ["08_0", "19_0"])
def test_poses_move_by_the_modelled_amount(rows, camera):
    """The dataset's yaws over many sample seeds against yaws fitted here to the exact landmarks plus the table's
    error drawn by hand (bias, one shared shift, per-point residuals, scaled from 128 to 64 px)."""
    prepared, manifest = rows
    ds = _pairs(prepared, manifest, "mtcnn")
    i = _index(ds, camera)
    row = ds.rows[i]
    exact = row_landmarks(row)
    yaw = float(row["yaw"])
    e = MTCNN_ERROR[camera]
    rng = np.random.default_rng(123)
    n = 150
    by_hand = [
        _yaw(poses_of([exact + (np.asarray(e.bias) + np.asarray(e.shared) * rng.standard_normal(2)
                                + np.asarray(e.spread) * rng.standard_normal((5, 2))) * 0.5], [yaw], 64)[0])
        for _ in range(n)]
    from_data = [_yaw(ds[(i, seed)][3]) for seed in range(n)]
    base = _yaw(poses_of([exact], [yaw], 64)[0])
    shift_hand, shift_data = np.array(by_hand) - base, np.array(from_data) - base
    assert shift_data.std() > 1.0  # the poses do move
    assert abs(shift_data.mean() - shift_hand.mean()) < 3 * shift_hand.std() / np.sqrt(n) + 0.5
    assert 0.75 < shift_data.std() / shift_hand.std() < 1.33


def test_same_seed_same_batch_and_other_seeds_differ(rows):
    prepared, manifest = rows
    augment = paired_augment(64, 0.9, True, landmarks=True)
    ds = _pairs(prepared, manifest, "mtcnn", augment, mirror=True)
    i = _index(ds, "08_0")
    a, b, c = ds[(i, 7)], ds[(i, 7)], ds[(i, 8)]
    for x, y in zip(a, b):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(a[3].numpy(), c[3].numpy())
    # the noise is drawn from the sample's seed alone: other random states do not change it
    np.random.seed(99)
    import torch

    torch.manual_seed(99)
    assert np.array_equal(ds[(i, 7)][3].numpy(), a[3].numpy())


def test_rows_whose_landmarks_came_from_a_detector_keep_them(rows):
    prepared, manifest = rows
    detected = [dict(r, landmark_source="mtcnn") for r in manifest]
    ds = _pairs(prepared, detected, "mtcnn")
    i = _index(ds, "08_0")
    row = ds.rows[i]
    assert np.array_equal(ds[(i, 3)][3].numpy(), poses_of([row_landmarks(row)], [float(row["yaw"])], 64, [0.0])[0])


def test_bad_settings_are_refused_with_what_to_do(rows):
    prepared, manifest = rows
    with pytest.raises(ValueError, match="unknown data.landmark_noise 'dlib'"):
        _pairs(prepared, manifest, "dlib")
    with pytest.raises(ValueError, match="without model.geometry"):
        ProfilePairs(prepared, manifest, 64, None, landmark_noise="mtcnn")


def test_named_settings_train_on_exact_landmarks():
    from frontalize.config import known_settings, load_config

    for setting in known_settings():
        assert load_config(setting).data.landmark_noise == "none", setting
        assert load_config(setting, cpu=True).data.landmark_noise == "none", setting


def test_training_passes_the_option_to_the_data(prepared_tiny, tmp_path, capsys):
    from frontalize.cli.train import main as train_main

    out, _ = prepared_tiny
    overrides = [f"data.prepared={out}", "data.size=64", "data.workers=0", "model.width=0.125", "model.d_width=8",
                 "train.batch_size=2", "train.steps=1", f"train.runs_dir={tmp_path}", "loss.identity_features=vgg",
                 "loss.recognizer=null", "wandb.mode=disabled", "data.val_subjects=0", "data.landmark_noise=mtcnn"]
    assert train_main(["--setting", "1_4", "--cpu", "--quiet", *overrides]) == 1  # setting1_4 has no geometry
    assert "without model.geometry" in capsys.readouterr().err


def test_error_model_recovers_bias_shared_shift_and_residuals():
    from frontalize.bench.landmarks import error_model

    rng = np.random.default_rng(0)
    bias = rng.normal(0, 3, (5, 2))
    shared, resid = np.array([2.0, 3.0]), rng.uniform(0.5, 2.0, (5, 2))
    errors = bias + shared * rng.standard_normal((20000, 1, 2)) + resid * rng.standard_normal((20000, 5, 2))
    model = error_model(errors, 45, 0.9)
    assert np.allclose(model.bias, bias, atol=0.06)
    assert np.allclose(model.shared, np.sqrt(shared ** 2 + (resid ** 2).mean(0) / 5), atol=0.06)
    # each point's residual about the five points' mean: its own spread, less what it gives to the mean
    mean_var = (resid ** 2).sum(0) / 25
    assert np.allclose(model.spread, np.sqrt(resid ** 2 * (1 - 2 / 5) + mean_var), atol=0.06)


def test_measurement_carries_the_detector_error_into_training_crop_pixels(tiny_synthpie):
    """A stand-in detector that misses the exact points by a known image offset (and finds no face in every third
    image): the measured bias is that offset in crop pixels, the detection rate what it found."""
    from frontalize.bench.landmarks import measure, summarise, training_crop_matrix
    from frontalize.data.multipie import parse_filename
    from frontalize.face.detect import Detection
    from frontalize.synthpie.generate import landmark_path, read_sidecar
    from frontalize.synthpie.realism import sample_images

    offset = np.array([2.0, -1.0])  # image pixels
    calls = []

    class Offset:
        def detect(self, images):
            out = []
            for _ in images:
                p = paths[len(calls)]
                calls.append(p)
                truth = np.asarray(read_sidecar(tiny_synthpie / landmark_path(parse_filename(p.name)))["five"])
                found = len(calls) % 3 != 0
                out.append([Detection(np.zeros(4), 0.99, truth + offset)] if found else [])
            return out

    paths = [p for p in sample_images(tiny_synthpie, per_camera=6) if p.parent.name in ("05_1", "19_0")]
    table = summarise(measure(tiny_synthpie, paths, Offset(), batch=4))
    assert set(table) == {"05_1", "19_0"} and len(calls) == len(paths)
    for camera, row in table.items():
        shot_paths = [p for i, p in enumerate(paths) if p.parent.name == camera]
        found = [p for p in shot_paths if (paths.index(p) + 1) % 3 != 0]
        assert (row["images"], row["detected"]) == (len(shot_paths), len(found))
        # each image's offset, turned and scaled by the alignment that made its training crop
        crop_offsets = [offset @ training_crop_matrix(np.asarray(read_sidecar(
            tiny_synthpie / landmark_path(parse_filename(p.name)))["five"]), camera)[:, :2].T for p in found]
        assert np.allclose(np.asarray(row["bias"]), np.mean(crop_offsets, axis=0), atol=0.006)
        # the alignment scaled and turned it (by the view's framing: a loosely framed face is enlarged in its crop)
        assert np.abs(np.mean(crop_offsets, axis=0) - offset).max() > 0.01
        assert np.all(np.asarray(row["residual_spread"]) < 0.01)
