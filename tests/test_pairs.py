"""`frontalize pairs`: a Multi-PIE-layout tree rendered from single frontal photographs (frontalize/pairs/).

On the real photos installed packages ship (scikit-image's astronaut and cameraman, matplotlib's Grace Hopper), a
picture with no face and a file that is no picture: the astronaut and Grace Hopper are frontal (subjects 001 and 002),
the cameraman looks aside (fitted yaw about +55), so he is skipped.
"""
import contextlib
import hashlib
import io
import shutil

import cv2
import numpy as np
import pytest

from frontalize.bench.identity import real_photos
from frontalize.cli.main import main as cli
from frontalize.data.align import frontal_transform, transform_points, warp
from frontalize.data.images import read_photo
from frontalize.data.manifest import read_manifest
from frontalize.data.multipie import CAMERA_BY_NAME, FRONTAL_CAMERA, HEAD_HEIGHT_CAMERAS, ShotId
from frontalize.data.pairs_tree import UNSEEN_HEAD, UNSEEN_SCENE, photo_list_hash, read_marker
from frontalize.data.protocols import PROTOCOLS, make_split
from frontalize.pairs.tree import view_files
from frontalize.preparation.prep import PrepConfig, prepare
from frontalize.synthpie.generate import read_sidecar

SIZE = 128  # frames; the command's default is 256, this keeps the test fast
FLASH = 7
SUBJECTS = {"astronaut": 1, "grace_hopper": 2}  # sorted by file name: astronaut, broken, cameraman, grace_hopper, no_face


def _digest(folder):
    """Every file below ``folder``: its bytes' hash and its modification time (a rewrite with the same bytes shows)."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["pairs", *map(str, args)])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    found = real_photos()
    assert {"astronaut", "cameraman", "grace_hopper"} <= set(found), f"the packages no longer ship these photos: {found}"
    folder = tmp_path_factory.mktemp("photos")
    for name, path in found.items():
        shutil.copy(path, folder / f"{name}{path.suffix}")
    ramp = np.linspace(0, 255, 240, dtype=np.float32)
    cv2.imwrite(str(folder / "no_face.png"), np.stack([np.add.outer(ramp, ramp[::-1]) / 2] * 3, -1).astype(np.uint8))
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    return folder


@pytest.fixture(scope="module")
def tree(photos, tmp_path_factory):
    """The tree of ``photos`` at 128 px, the photo folder's files before the run, and the command's output."""
    before = _digest(photos)
    out = tmp_path_factory.mktemp("pairs") / "tree"
    code, printed = _run("--photos", photos, "--out", out, "--size", SIZE, "--quiet")
    assert code == 0, printed
    return out, before, printed


def _view(out, subject, camera):
    image, sidecar, mask = view_files(out, subject, camera, FLASH)
    return cv2.imread(str(image))[..., ::-1], read_sidecar(sidecar), cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)


def test_tree_has_the_13_head_height_cameras_with_synthpie_sidecars(tree, tmp_path):
    from frontalize.synthpie.generate import PRESETS, landmark_path, render_unit

    out, _, _ = tree
    subjects = sorted(p.name for p in (out / "data" / "session01" / "multiview").iterdir())
    assert subjects == ["001", "002"]
    render_unit(tmp_path, PRESETS["tiny"], 0, 1, 1, 1)  # one SynthPIE recording: its sidecar is the schema
    synthpie = read_sidecar(tmp_path / landmark_path(ShotId(1, 1, 1, FRONTAL_CAMERA, 7)))
    for subject in (1, 2):
        cameras = sorted(p.name for p in (out / "data" / "session01" / "multiview" / f"{subject:03d}" / "01").iterdir())
        assert cameras == sorted(HEAD_HEIGHT_CAMERAS)
        for camera in HEAD_HEIGHT_CAMERAS:
            image, sidecar, mask = _view(out, subject, camera)
            assert image.shape == (SIZE, SIZE, 3) and mask.shape == (SIZE, SIZE)
            assert set(np.unique(mask)) <= {0, UNSEEN_SCENE, UNSEEN_HEAD}
            assert sidecar.keys() == synthpie.keys()
            assert sidecar["image_size"] == [SIZE, SIZE]
            assert [len(sidecar[k]) for k in ("five", "five_visible", "ibug68", "ibug68_visible")] == [5, 5, 68, 68]
            assert sidecar["head_pose"].keys() == synthpie["head_pose"].keys()
            assert sidecar["five_names"] == synthpie["five_names"] and sidecar["version"] == synthpie["version"]


def test_positive_yaw_turns_the_nose_to_the_image_right(tree):
    """data/multipie.py's sign: a positive-yaw camera stands on the subject's right and sees the nose to the image's right."""
    out, _, _ = tree
    by_yaw = sorted(HEAD_HEIGHT_CAMERAS, key=lambda c: CAMERA_BY_NAME[c].yaw)
    for subject in (1, 2):
        nose = [_view(out, subject, c)[1]["five"][2][0] for c in by_yaw]
        assert all(b > a for a, b in zip(nose, nose[1:])), f"subject {subject}: nose x by yaw -90..+90: {nose}"
        # the sidecar's head pose is the photo's, in SynthPIE's convention: the camera's yaw to the head is
        # camera.yaw - head_pose.yaw, the photo's fitted yaw at 05_1
        marker = read_marker(out)
        fitted = next(p for p in marker["photos"] if p["subject"] == subject)["pose"]["yaw"]
        assert _view(out, subject, "24_0")[1]["head_pose"]["yaw"] == pytest.approx(-fitted, abs=0.01)


def test_frontal_camera_is_the_photos_own_aligned_face(tree, photos):
    out, _, _ = tree
    marker = read_marker(out)
    for name, subject in SUBJECTS.items():
        entry = next(p for p in marker["photos"] if p["subject"] == subject)
        assert entry["path"].endswith(name + (".png" if name == "astronaut" else ".jpg"))
        five = np.asarray(entry["five"])
        m = frontal_transform(five, SIZE)
        aligned = warp(read_photo(next(photos.glob(name + ".*"))), m, SIZE)
        image, sidecar, mask = _view(out, subject, FRONTAL_CAMERA)
        assert np.array_equal(image, aligned), "camera 05_1 must be the photograph itself, aligned, not a render"
        assert not mask.any(), "the photo shows all of its own aligned face"
        np.testing.assert_allclose(sidecar["five"], transform_points(five, m), atol=0.01)
        assert all(sidecar["five_visible"])


def test_larger_yaws_leave_more_unknown_pixels(tree):
    """Turned further, a head shows more of what the frontal photo did not (its sides, its back), and uncovers more of
    the background the photo's head hid: both parts of the mask grow with |yaw|, on either side."""
    out, _, _ = tree
    for subject in (1, 2):
        for side in (-1, 1):
            cameras = sorted((c for c in HEAD_HEIGHT_CAMERAS if CAMERA_BY_NAME[c].yaw * side > 0),
                             key=lambda c: abs(CAMERA_BY_NAME[c].yaw))
            masks = [_view(out, subject, c)[2] for c in cameras]
            for part in (UNSEEN_HEAD, UNSEEN_SCENE):
                unknown = [int((m == part).sum()) for m in masks]
                assert unknown[0] > 0 and all(b > a for a, b in zip(unknown, unknown[1:])), \
                    f"subject {subject}, {'+' if side > 0 else '-'}15..90: pixels marked {part}: {unknown}"


def test_turned_views_keep_the_photos_own_scene(tree):
    """Beyond the head a turned view shows the photo's own background, pixel for pixel where the photo showed it, and
    fills what its head hid from the scene around it, not with a constant."""
    out, _, _ = tree
    for subject in (1, 2):
        frontal = _view(out, subject, FRONTAL_CAMERA)[0]
        for camera in HEAD_HEIGHT_CAMERAS:
            image, _, mask = _view(out, subject, camera)
            own = (image == frontal).all(-1) & (mask == 0)
            assert own.mean() > 0.1, f"subject {subject} {camera}: {own.mean():.0%} of the frame is the photo's scene"
            if camera != FRONTAL_CAMERA:
                assert image[mask == UNSEEN_SCENE].std(0).max() > 5, "the hidden background is filled with one colour"


def test_photos_without_a_frontal_face_are_counted_and_skipped(tree):
    out, _, printed = tree
    marker = read_marker(out)
    why = {p["path"].rsplit("/", 1)[-1]: p["skipped"] for p in marker["photos"]}
    assert why["no_face.png"] == "no face found"
    assert why["broken.jpg"].startswith("unreadable")
    assert why["cameraman.png"].startswith("not frontal")
    assert why["astronaut.png"] is None and why["grace_hopper.jpg"] is None
    assert (marker["subjects"], marker["skipped"]) == (2, 3)
    assert marker["rendered_from"] == "photographs" and marker["every_subject_trains"] is True
    assert all(p["sha256"] and p["bytes"] for p in marker["photos"])
    assert "2 of 5 photos became subjects, 3 skipped (1 no face found, 1 not frontal, 1 unreadable)" in printed


def test_prep_takes_the_tree_with_its_landmarks_all_in_training(tree, tmp_path):
    out, _, _ = tree
    prepared = tmp_path / "prepared"
    summary = prepare(PrepConfig(root=out, out=prepared, size=64, protocols=("setting1", "session01", "setting2"),
                                 workers=1, progress=False))
    assert summary["status"] == {"ok": 26} and summary["landmark_source"] == {"sidecar": 26}
    assert summary["stray_files"] == 0, "the unknown masks are a view's companions, not stray files"
    assert "skipped" in summary["manifests"]["setting2"]  # one session: setting2 has nothing to split
    marker = read_marker(out)
    photos = [next(p for p in marker["photos"] if p["subject"] == s) for s in (1, 2)]
    dataset = f"photo pairs {photo_list_hash([p['sha256'] for p in photos])}"
    for protocol, cameras in (("setting1", 7), ("session01", 13)):
        manifest = read_manifest(prepared, protocol, 64)
        assert manifest.dataset == dataset
        assert {(r["split"], r["role"]) for r in manifest.rows} == {("train", "train")}
        assert manifest.subjects("train") == {1, 2} and manifest.subjects("test") == set()
        assert len(manifest.rows) == 2 * cameras and all(r["target_path"] for r in manifest.rows)
        assert summary["manifests"][protocol]["test_subjects"] == 0
        for subject in (1, 2):  # the pose preparation fits to the sidecar's landmarks turns with the camera
            rows = sorted((r for r in manifest.rows if r["subject"] == str(subject)), key=lambda r: int(r["yaw"]))
            fitted = [float(r["pose"].split()[0]) for r in rows]
            assert all(b > a for a, b in zip(fitted, fitted[1:])), fitted
            assert all(abs(y - int(r["yaw"])) < 15 for y, r in zip(fitted, rows)), fitted


def test_a_gan_trains_on_the_tree_without_a_test_split_to_check(tree, tmp_path):
    """The periodic identity check needs validation subjects or test probes; a pairs tree has neither, so the check
    is skipped (and the run header says so) rather than ending the run at its first check."""
    from conftest import random_recognizer, train_tiny_gan

    out, _, _ = tree
    prepared = tmp_path / "prepared"
    prepare(PrepConfig(root=out, out=prepared, size=64, protocols=("setting1",), workers=1, progress=False))
    recognizer = random_recognizer(tmp_path / "recognizer.pt", seed=0)
    from frontalize.config import load_config

    assert load_config("setting1_4r_pairs", cpu=True).data.val_subjects == 0  # the named setting holds nobody out
    latest = train_tiny_gan(prepared, tmp_path / "runs", "setting1_4r_pairs", "train.eval_every=1",
                            f"loss.recognizer={recognizer}")
    run = latest.parent.parent
    assert latest.name == "step_00000002.pt"
    assert not list(run.glob("eval/rank1_*.json")), "no identity check without validation or test probes"
    assert list(run.glob("samples/*.png")), "the sample grid shows training inputs instead"


def test_training_only_split_puts_every_subject_in_training():
    subjects = {1: [1, 2, 3]}
    split = make_split(PROTOCOLS["setting1"], subjects, training_only=True)
    assert split.train == {1, 2, 3} and split.test == set() and "0 test" in split.describe()
    assert not any(split.is_gallery(s, 1, 1, FRONTAL_CAMERA, 7, 7) for s in (1, 2, 3))
    assert make_split(PROTOCOLS["setting1"], subjects).test, "without the switch a protocol still tests someone"


def test_rerun_changes_nothing_and_completes_an_interrupted_tree(tree, photos):
    out, _, _ = tree
    before = _digest(out)
    code, printed = _run("--photos", photos, "--out", out, "--quiet")  # the tree's size, taken from its marker
    assert code == 0 and "rendered 0 subjects (2 finished before)" in printed
    assert _digest(out) == before, "a re-run rewrote files"
    # an interrupted run: one view of subject 002 missing; the re-run renders that subject again, the same bytes
    image, _, _ = view_files(out, 2, "20_0", FLASH)
    image.unlink()
    code, printed = _run("--photos", photos, "--out", out, "--quiet")
    assert code == 0 and "rendered 1 subjects (1 finished before)" in printed
    after = _digest(out)
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    changed = {k for k in after if after[k] != before[k]}
    assert changed and all(k.startswith("data/session01/multiview/002/") for k in changed)


def test_inputs_are_never_written_and_foreign_outputs_refused(tree, photos, tmp_path):
    out, before, _ = tree
    assert _digest(photos) == before, "the photo folder changed"
    assert _run("--photos", photos, "--out", photos / "pairs")[0] == 2  # inside the photo folder
    assert _run("--photos", photos / "astronaut.png", "--out", photos)[0] == 2  # the folder that holds the photo
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert _run("--photos", photos, "--out", foreign)[0] == 2  # not empty, not a pairs tree
    assert _run("--photos", photos / "astronaut.png", "--out", out)[0] == 2  # a tree of other photos
    assert _run("--photos", photos, "--out", out, "--size", 96)[0] == 2  # the tree's frames are 128 px
    assert _digest(photos) == before and (foreign / "notes.txt").read_text() == "mine"
    assert not (photos / "pairs").exists()


def test_a_run_mixes_synthpie_with_the_tree_and_records_both(tree, prepared_tiny, tmp_path):
    """setting1_4r_mixed: SynthPIE's true pairs and the tree's rendered pairs in one run; every input of both is
    drawn, and the checkpoint's record names the tree's people as its own dataset's."""
    from conftest import random_recognizer, train_tiny_gan
    from frontalize.config import load_config
    from frontalize.runs import checkpoint as ckpt
    from frontalize.runs.provenance import RECORD_KEY, TrainedOn
    from frontalize.training.data import Mixed, ProfilePairs
    from frontalize.training.trainer import read_mixed

    out, _, _ = tree
    synthpie, _ = prepared_tiny
    mixed = tmp_path / "prepared"
    prepare(PrepConfig(root=out, out=mixed, size=64, protocols=("setting1",), workers=1, progress=False))
    recognizer = random_recognizer(tmp_path / "recognizer.pt", seed=0)
    latest = train_tiny_gan(synthpie, tmp_path / "runs", "setting1_4r_mixed", f"data.mix={mixed}",
                            f"loss.recognizer={recognizer}")
    record = TrainedOn.from_json(ckpt.load(latest)[RECORD_KEY])
    tree_manifest = read_manifest(mixed, "setting1", 64)
    assert record.dataset == read_manifest(synthpie, "setting1", 64).dataset
    assert [(p.dataset, p.subjects) for p in record.mixed] == [(tree_manifest.dataset, (1, 2))]

    # the batches draw from the concatenation: every SynthPIE input and every tree input is reachable
    cfg = load_config("setting1_4r_mixed", cpu=True, overrides=[f"data.prepared={synthpie}", f"data.mix={mixed}",
                                                                "data.size=64"])
    assert read_mixed(cfg).dataset == tree_manifest.dataset
    first = ProfilePairs(synthpie, read_manifest(synthpie, "setting1", 64).rows, 64, None)
    second = ProfilePairs(mixed, tree_manifest.rows, 64, None)
    both = Mixed([first, second])
    assert len(both) == len(first) + len(second) == len(first) + 14
    np.testing.assert_array_equal(both[(len(first), 0)][1].numpy(), second[(0, 0)][1].numpy())
    np.testing.assert_array_equal(both[(len(first) - 1, 0)][1].numpy(), first[(len(first) - 1, 0)][1].numpy())
