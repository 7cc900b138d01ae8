"""Multi-PIE preparation: layout checks, quirks of the real tree, exact protocol manifests, resumability."""
import csv
import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from frontalize.cli.main import main as cli
from frontalize.data.align import warp
from frontalize.data.images import read_mask
from frontalize.data.manifest import MANIFEST_FIELDS, read_manifest
from frontalize.data.multipie import parse_filename
from frontalize.preparation.prep import RECORD_VERSION, CameraPrior, PrepConfig, prepare
from frontalize.data.scan import LayoutError, ViewKey
from frontalize.data.template import region_boxes, template_points


def _rows(out: Path, name: str, size: int) -> list[dict]:
    with open(out / "manifests" / f"{name}_{size}.csv", newline="") as f:
        return list(csv.DictReader(f))


def _digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_source_tree_is_never_modified(prepared_tiny, tiny_synthpie):
    out, _ = prepared_tiny
    assert not list(tiny_synthpie.rglob("*.tmp")) and not list(tiny_synthpie.rglob("*_prep.json"))
    assert not list(tiny_synthpie.rglob("crops"))


def test_tiny_manifest_counts(prepared_tiny):
    out, summary = prepared_tiny
    # tiny: 6 subjects, recordings 01/02, cameras +-90, +-45, +-15, 0, flashes 04/07/10
    s1 = _rows(out, "setting1", 64)  # 2 train / 4 test (100/249 of 6), neutral, 5 cameras within +-45
    assert len(s1) == 6 * 5 * 3
    assert sum(r["role"] == "train" for r in s1) == 2 * 15
    assert sum(r["role"] == "gallery" for r in s1) == 4
    assert sum(r["role"] == "probe" for r in s1) == 4 * 15 - 4
    ses = _rows(out, "session01", 64)  # 5 train / 1 test (200/249 of 6), both expressions, all 7 cameras
    assert len(ses) == 6 * 2 * 7 * 3
    assert sum(r["role"] == "gallery" for r in ses) == 2  # one per expression
    assert sum(r["role"] == "train" for r in ses) == 5 * 42
    assert summary["manifests"]["setting2"] == {"skipped": "needs 2 sessions, the data has 1"}
    assert summary["landmark_source"] == {"sidecar": 252}
    assert (out / "preview_64.png").exists()
    # the views' subject masks are sidecars: neither images nor stray files; each is cropped once
    inventory = json.loads((out / "report" / "inventory.json").read_text())
    assert (inventory["images"], inventory["alpha_sidecars"], inventory["stray_files"]) == (252, 84, 0)
    assert summary["alpha_crops"] == 84 and len(list((out / "crops" / "64").rglob("*_alpha.png"))) == 84


@pytest.mark.parametrize("name", ["setting1", "session01"])
def test_gallery_targets_and_disjoint_splits(prepared_tiny, name):
    out, _ = prepared_tiny
    rows = _rows(out, name, 64)
    train = {r["subject"] for r in rows if r["split"] == "train"}
    test = {r["subject"] for r in rows if r["split"] == "test"}
    assert train and test and not train & test
    assert all(r["split"] == "train" for r in rows if r["subject"] in train)
    gallery = [r for r in rows if r["role"] == "gallery"]
    assert all(r["camera"] == "05_1" and r["flash"] == "7" for r in gallery)
    per_subject = {(r["subject"], r["recording"]) for r in gallery}
    assert len(per_subject) == len(gallery)  # exactly one per test subject (and expression)
    assert {s for s, _ in per_subject} == test
    for r in rows:
        src, tgt = parse_filename(Path(r["source_path"]).name), parse_filename(Path(r["target_path"]).name)
        assert (tgt.subject, tgt.session, tgt.recording, tgt.flash, tgt.camera) == (
            src.subject, src.session, src.recording, src.flash, "05_1")
        assert (out / r["target_path"]).exists() and (out / r["crop_path"]).exists()


def test_frontal_crops_land_on_the_template(prepared_tiny):
    out, _ = prepared_tiny
    with open(out / "index_64.csv", newline="") as f:
        frontal = [r for r in csv.DictReader(f) if r["camera"] == "05_1"]
    for r in frontal:
        m = np.array([float(v) for v in r["matrix"].split()]).reshape(2, 3)
        five = np.array([float(v) for v in r["five"].split()]).reshape(5, 2)
        moved = five @ m[:, :2].T + m[:, 2]
        t = template_points(64)
        # least-squares similarity: centroids coincide; what is left is the subject's own face shape
        np.testing.assert_allclose(moved.mean(0), t.mean(0), atol=1e-2)
        assert abs(moved[0, 1] - moved[1, 1]) < 1.0  # eyes level
        assert np.linalg.norm(moved - t, axis=1).max() < 0.25 * (t[1, 0] - t[0, 0])
    regions = json.loads((out / "regions_64.json").read_text())
    assert regions["boxes"] == {k: list(v) for k, v in region_boxes(64).items()}
    img = cv2.imread(str(out / frontal[0]["crop_path"]))
    assert img.shape == (64, 64, 3)


def _matrix(row: dict) -> np.ndarray:
    return np.array([float(v) for v in row["matrix"].split()]).reshape(2, 3)


def _same_crop(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal but for the index's matrix keeping six significant digits: OpenCV's warp samples at 1/32 pixel, so a
    pixel or two on the mask's edge may step by a few levels (a crop a pixel off differs all along its edge)."""
    diff = np.abs(a.astype(int) - b)
    return a.shape == b.shape and int(diff.max()) <= 16 and (diff > 0).sum() <= 10

def test_subject_mask_is_cropped_with_its_views_alignment(prepared_tiny, tiny_synthpie):
    """crops/<size>/<view>/<view stem>_alpha.png: the view's mask under the view's crop matrix, named by every row."""
    out, _ = prepared_tiny
    with open(out / "index_64.csv", newline="") as f:
        index = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    for r in index:
        view_stem = Path(r["source_path"]).name.rsplit("_", 1)[0]
        assert r["alpha_path"] == str(Path(r["crop_path"]).parent / f"{view_stem}_alpha.png")
    for r in index[::3]:  # one flash of each view (they share the crop)
        source = tiny_synthpie / "data" / Path(r["source_path"]).parent / Path(r["alpha_path"]).name
        crop = read_mask(out / r["alpha_path"])
        assert crop.shape == (64, 64) and _same_crop(crop, warp(read_mask(source), _matrix(r), 64))
        # it lines up with the image's crop: the crop's landmarks lie on the subject
        points = np.round(np.array([float(v) for v in r["landmarks"].split()]).reshape(5, 2)).astype(int)
        near = cv2.dilate(crop, np.ones((3, 3), np.uint8))
        on = [near[y, x] > 127 for x, y in points if 0 <= x < 64 and 0 <= y < 64]
        assert on and all(on), r["crop_path"]
    for name in ("setting1", "session01"):
        rows = _rows(out, name, 64)
        assert list(rows[0]) == MANIFEST_FIELDS and all(r["alpha_path"] for r in rows)
        by_crop = {r["crop_path"]: r["alpha_path"] for r in index}
        assert all(r["alpha_path"] == by_crop[r["crop_path"]] for r in rows)


def test_manifests_without_alpha_column_read_as_empty(prepared_tiny, tmp_path):
    """Manifests prepared before subject masks were kept have no alpha_path column: it reads as ''."""
    out, _ = prepared_tiny
    (tmp_path / "manifests").mkdir()
    with open(out / "manifests" / "setting1_64.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(tmp_path / "manifests" / "setting1_64.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in MANIFEST_FIELDS if k != "alpha_path"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    old = read_manifest(tmp_path, "setting1", 64).rows
    assert len(old) == len(rows) and {r["alpha_path"] for r in old} == {""}
    assert [r["crop_path"] for r in old] == [r["crop_path"] for r in rows]


def test_records_of_an_older_version_are_prepared_again(prepared_tiny, tiny_synthpie, tmp_path):
    """A view prepared by the previous version (no mask crop) is prepared again, the mask's crop with it."""
    out = tmp_path / "copy"
    shutil.copytree(prepared_tiny[0], out)
    record = next(out.rglob("002_01_01_190_prep.json"))
    doc = json.loads(record.read_text())
    doc["version"] = RECORD_VERSION - 1
    record.write_text(json.dumps(doc))
    mask = record.parent / "002_01_01_190_alpha.png"
    mask.unlink()
    summary = prepare(PrepConfig(root=tiny_synthpie, out=out, size=64, workers=1, progress=False, preview=True))
    assert summary["views_reused"] == summary["views"] - 1
    assert mask.exists() and _digest(out) == _digest(prepared_tiny[0])


def test_rerun_changes_nothing(prepared_tiny, tiny_synthpie):
    out, _ = prepared_tiny
    before = _digest(out)
    again = prepare(PrepConfig(root=tiny_synthpie, out=out, size=64, workers=1, progress=False, preview=True))
    assert again["views_reused"] == again["views"]
    assert _digest(out) == before
    assert not list(out.rglob("*.tmp"))


def test_interrupted_view_is_redone(prepared_tiny, tiny_synthpie, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(prepared_tiny[0], out)
    record = next(out.rglob("001_01_01_051_prep.json"))
    record.unlink()  # as if the run died after writing crops but before the record
    crop = record.parent / "001_01_01_051_07.png"
    crop.unlink()
    summary = prepare(PrepConfig(root=tiny_synthpie, out=out, size=64, workers=1, progress=False, preview=True))
    assert summary["views_reused"] == summary["views"] - 1
    assert crop.exists() and record.exists()
    assert _digest(out) == _digest(prepared_tiny[0])


def _quirky_tree(tiny: Path, dest: Path) -> Path:
    """Real Multi-PIE quirks: ids with gaps, a missing recording, camera and shot, a corrupt PNG, stray files."""
    rename = {1: 1, 2: 4, 3: 7}
    for old, new in rename.items():
        for p in (tiny / "data").rglob(f"{old:03d}_*"):
            rel = p.relative_to(tiny / "data")
            parts = list(rel.parts)
            parts[2] = f"{new:03d}"
            parts[-1] = f"{new:03d}" + parts[-1][3:]
            target = dest / "data" / Path(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, target)
    mv = dest / "data" / "session01" / "multiview"
    shutil.rmtree(mv / "007" / "02")  # subject 007 missing its smile recording
    shutil.rmtree(mv / "004" / "02" / "19_0")  # a missing camera
    (mv / "004" / "01" / "05_1" / "004_01_01_051_04.png").unlink()  # a missing frontal shot: no target
    corrupt = mv / "001" / "01" / "14_0" / "001_01_01_140_10.png"
    corrupt.write_bytes(corrupt.read_bytes()[:200])  # truncated PNG
    (mv / "README.txt").write_text("notes")
    (mv / "001" / "01" / "05_1" / "Thumbs.db").write_bytes(b"\0\1")
    (mv / "001" / "01" / "05_1" / "001_01_01_051_07 copy.png").write_bytes(b"")
    for mask in (mv / "004").rglob("*_alpha.png"):  # subject 004 comes without masks, as real Multi-PIE does
        mask.unlink()
    return dest / "data"


@pytest.fixture(scope="module")
def quirky(tiny_synthpie, tmp_path_factory):
    data = _quirky_tree(tiny_synthpie, tmp_path_factory.mktemp("quirky"))
    out = data.parent.parent / (data.parent.name + "_prepared")
    summary = prepare(PrepConfig(root=data, out=out, size=64, workers=1, progress=False))  # `data` given as root
    return data, out, summary


def test_quirks_are_counted_not_fatal(quirky):
    data, out, summary = quirky
    inventory = json.loads((out / "report" / "inventory.json").read_text())
    assert inventory["subjects"] == 3 and inventory["stray_files"] == 3
    assert summary["status"] == {"ok": 100, "unreadable": 1}  # 3*2*7*3 - 21 - 3 - 1 images, one corrupt
    problems = (out / "report" / "problems.csv").read_text()
    assert "001_01_01_140_10.png,unreadable" in problems
    gaps = (out / "report" / "gaps.txt").read_text()
    assert "subject ids not present (non-contiguous ids): 002-003, 005-006" in gaps
    assert "007 session 01: recordings missing [2]" in gaps
    assert "004 session 01 recording 02: cameras missing ['19_0']" in gaps
    assert "flashes missing [4]" in gaps
    stray = (out / "report" / "stray_files.txt").read_text()
    assert "README.txt" in stray and "Thumbs.db" in stray and "copy.png" in stray
    # a view without a mask has rows without one; the others keep theirs
    with open(out / "index_64.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    assert {bool(r["alpha_path"]) for r in rows if r["subject"] == "4"} == {False}
    assert all(r["alpha_path"] for r in rows if r["subject"] != "4")
    assert summary["alpha_crops"] == 14 + 7  # the views of subjects 1 and 7 (7 lacks its smile)


def test_quirky_manifest_counts(quirky):
    _, out, summary = quirky
    s1 = _rows(out, "setting1", 64)  # train {1}, test {4, 7}
    roles = {(r["subject"], r["role"]): 0 for r in s1}
    for r in s1:
        roles[(r["subject"], r["role"])] += 1
    assert roles == {("1", "train"): 14, ("4", "gallery"): 1, ("4", "probe"): 13, ("7", "gallery"): 1, ("7", "probe"): 14}
    assert summary["manifests"]["setting1"]["rows_without_target"] == 4
    assert sum(1 for r in s1 if r["target_path"] == "") == 4
    ses = _rows(out, "session01", 64)  # train {1, 4}, test {7} with one expression only
    assert len(ses) == 41 + 38 + 21
    assert [(r["subject"], r["recording"]) for r in ses if r["role"] == "gallery"] == [("7", "1")]
    assert summary["manifests"]["session01"]["test_subjects_without_gallery"] == []


def test_wrong_root_fails_with_clear_message(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "me.jpg").write_bytes(b"x")
    with pytest.raises(LayoutError, match=r"expected: ROOT/data/session01/multiview"):
        prepare(PrepConfig(root=tmp_path / "photos", out=tmp_path / "out", progress=False))
    assert cli(["prep", "--root", str(tmp_path / "photos"), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not a Multi-PIE root" in err and "found:    me.jpg" in err and "Traceback" not in err


def test_mtcnn_landmarks_with_fallbacks(quirky, tmp_path):
    data, _, _ = quirky
    blank = data / "session01" / "multiview" / "007" / "01" / "24_0"
    for p in blank.glob("*_??.png"):  # a view where no detector can find anything
        cv2.imwrite(str(p), np.full((240, 320, 3), 107, np.uint8))
    out = tmp_path / "mtcnn"
    summary = prepare(PrepConfig(root=data, out=out, size=64, workers=2, landmarks="mtcnn", progress=False))
    with open(out / "index_64.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    assert {r["landmark_source"] for r in rows} <= {"mtcnn", "mtcnn_view", "camera_prior"}
    near = [r for r in rows if r["camera"] in ("14_0", "05_1", "05_0")]
    assert sum(r["landmark_source"] == "mtcnn" for r in near) >= 0.9 * len(near)
    assert {r["landmark_source"] for r in near} <= {"mtcnn", "mtcnn_view"}  # misses borrow from the same view
    assert {r["landmark_source"] for r in rows if "007/01/24_0" in r["source_path"]} == {"camera_prior"}
    assert summary["status"]["ok"] == 100
    # where only an eye-mouth axis is known, the warp's pose is the camera's own yaw on that axis
    prior = [r for r in rows if r["landmark_source"] == "camera_prior"]
    assert prior and all(float(r["pose"].split()[0]) == pytest.approx(int(r["yaw"]), abs=0.1) for r in prior)
    assert all(len(r["landmarks"].split()) == 10 for r in rows)
    # MTCNN fits each flash on its own: a view's mask follows its gallery flash's matrix (07), else its first's
    for view in {r["alpha_path"] for r in rows if r["alpha_path"]}:
        flashes = {int(r["flash"]): r for r in rows if r["alpha_path"] == view}
        r = flashes.get(7, flashes[min(flashes)])
        source = data / Path(r["source_path"]).parent / Path(view).name
        assert _same_crop(read_mask(out / view), warp(read_mask(source), _matrix(r), 64)), view


def test_preparation_stores_landmarks_and_pose_for_the_warp(prepared_tiny):
    """Each crop's five landmarks in crop pixels (where its crop transform puts them) and its estimated pose."""
    from frontalize.data.align import transform_points

    out, _ = prepared_tiny
    with open(out / "index_64.csv", newline="") as f:
        index = {r["crop_path"]: r for r in csv.DictReader(f) if r["status"] == "ok"}
    rows = _rows(out, "session01", 64)
    assert len(rows) == 252
    for r in rows:
        crop = np.array([float(v) for v in r["landmarks"].split()]).reshape(5, 2)
        i = index[r["crop_path"]]
        five = np.array([float(v) for v in i["five"].split()]).reshape(5, 2)
        matrix = np.array([float(v) for v in i["matrix"].split()]).reshape(2, 3)
        assert np.allclose(crop, transform_points(five, matrix), atol=0.01)
        yaw, pitch, roll = (float(v) for v in r["pose"].split())
        assert abs(yaw - int(r["yaw"])) < 15 and abs(roll) < 15, r["crop_path"]  # five points: a few degrees off


def test_camera_prior_follows_the_recordings_head_offset():
    prior = CameraPrior()
    for subject in range(1, 6):  # camera 24_0 seen at (100, 50) / (100, 90); 05_1 at (160, 60) / (160, 100)
        prior.add(ViewKey(subject, 1, 1, "24_0"), [(np.array([100.0, 50]), np.array([100.0, 90]))])
        prior.add(ViewKey(subject, 1, 1, "05_1"), [(np.array([160.0, 60]), np.array([160.0, 100]))])
    # subject 9 sits 10 px right and 5 px lower than usual, measured at the frontal camera
    prior.add(ViewKey(9, 1, 1, "05_1"), [(np.array([170.0, 65]), np.array([170.0, 105]))])
    five = prior.estimate(ViewKey(9, 1, 1, "24_0"))
    np.testing.assert_allclose(five[0], [110, 55])
    np.testing.assert_allclose(five[3], [110, 95])
    assert prior.estimate(ViewKey(9, 1, 1, "01_0")) is not None  # unseen camera: the nearest seen one


def test_prep_command_prints_counts_and_summary(quirky, tmp_path, capfd):
    data, _, _ = quirky
    assert cli(["prep", "--root", str(data), "--out", str(tmp_path / "p"), "--size", "64", "--workers", "1", "--quiet"]) == 0
    out, err = capfd.readouterr()
    # the corrupt PNG is reported once, as a per-file problem; OpenCV's own decoder warnings stay out of the console
    assert "grfmt" not in err and "WARN" not in err and "ERROR" not in err, err
    assert "found 101 images of 3 subjects" in out
    assert "by camera: 11_0 15, 08_0 15, 14_0 15, 05_1 14" in out and "by flash: 04 33, 07 34, 10 34" in out
    assert "setting1: 1 train / 2 test subjects (scaled" in out
    # hand count: subject 1 trains (one corrupt shot at -15), subjects 4 and 7 test (004 lacks one frontal shot)
    assert "by yaw: -45 probe 6/train 3; -15 probe 6/train 2; +0 gallery 2/probe 3/train 3; +15 probe 6/train 3; +45 probe 6/train 3" in out
    assert "1 images skipped: see report/problems.csv" in out


def test_a_replaced_source_image_is_prepared_again(tiny_synthpie, tmp_path):
    """A record is trusted only while its view's source files are unchanged: never an old crop for a new image."""
    tree = tmp_path / "tree"
    shutil.copytree(tiny_synthpie, tree)
    out = tmp_path / "prepared"
    config = PrepConfig(root=tree, out=out, size=64, workers=1, progress=False, protocols=("setting1",))
    prepare(config)
    source = tree / "data/session01/multiview/002/01/05_1/002_01_01_051_07.png"
    crop = out / "crops/64/session01/multiview/002/01/05_1/002_01_01_051_07.png"
    before = crop.read_bytes()
    img = cv2.imread(str(source))
    cv2.imwrite(str(source), img[:, ::-1])  # the subject now looks the other way
    again = prepare(config)
    assert again["views_reused"] == again["views"] - 1
    assert crop.read_bytes() != before


def test_mtcnn_once_per_view_gives_the_views_flashes_the_gallery_flashs_points(tiny_synthpie, tmp_path):
    """``detect_per_view``: MTCNN on the gallery flash only, the view's other flashes share its points (they were shot
    within a second); a folder prepared another way (the renderer's landmarks) is prepared again, not reused."""
    out = tmp_path / "prepared"
    sidecar = prepare(PrepConfig(root=tiny_synthpie, out=out, size=64, workers=1, progress=False, protocols=("setting1",)))
    once = prepare(PrepConfig(root=tiny_synthpie, out=out, size=64, workers=1, progress=False, protocols=("setting1",),
                              landmarks="mtcnn", detect_per_view=1))
    assert sidecar["views_reused"] == 0 and once["views_reused"] == 0  # not the sidecar crops again
    with open(out / "index_64.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    by_view = {}
    for r in rows:
        by_view.setdefault(r["source_path"].rsplit("_", 1)[0], []).append(r)
    near = [v for v in by_view.values() if v[0]["camera"] in ("14_0", "05_1", "05_0")]
    for view in near:
        sources = {int(r["flash"]): r["landmark_source"] for r in view}
        assert sources[7] == "mtcnn" and all(s == "mtcnn_view" for f, s in sources.items() if f != 7), sources
        assert len({r["landmarks"] for r in view}) == 1  # one set of points for the view
    again = prepare(PrepConfig(root=tiny_synthpie, out=out, size=64, workers=1, progress=False, protocols=("setting1",),
                               landmarks="mtcnn", detect_per_view=1))
    assert again["views_reused"] == again["views"]
