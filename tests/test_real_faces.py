"""The real-face benchmark (Pointing'04, dlib) and the geometry that must hold on real photographs."""
import csv
import shutil

import numpy as np
import pytest

from frontalize.data.pointing04 import (
    VENDORED, Pointing04Error, read_frames, split, tight_crop, tight_square,
)
from frontalize.evaluation.intervals import Share, separated, wilson
from frontalize.evaluation.real_faces import ALL, ProbeResult, RealFaceTally


def test_the_vendored_frames_are_the_tilt_0_set_with_the_licence():
    found = read_frames(VENDORED)
    assert not found.missing
    assert len(found.frames) == 390  # 15 people x 2 series x 13 pans
    assert {f.person for f in found.frames} == set(range(1, 16))
    assert sorted({f.pan for f in found.frames}) == list(range(-90, 91, 15))
    notice = (VENDORED / "README_INRIA.txt").read_text()
    assert "Gourier" in notice and "Pointing 2004" in notice
    assert "Gourier" in (VENDORED / "README.md").read_text()


def test_yaw_is_the_pan_turned_round_and_the_gallery_is_series_1_frontal():
    frames = read_frames(VENDORED).frames
    f = next(f for f in frames if f.pan == -90)
    assert f.yaw == 90  # the nose points to the image's right at pan -90 (the database's README, checked by eye)
    gallery, probes = split(frames)
    assert sorted(gallery) == list(range(1, 16))
    assert all(g.series == 1 and g.pan == 0 for g in gallery.values())
    assert len(probes) == 375
    assert sum(1 for p in probes if p.pan == 0) == 15  # series 2's frontal frames are probes


def _write_copy(tmp_path, rows):
    """The vendored frames of ``rows`` and their labels, as a Pointing'04 folder of their own."""
    root = tmp_path / "p04"
    for r in rows:
        (root / r["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(VENDORED / r["file"], root / r["file"])
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def _copy(tmp_path, files=6):
    rows = list(csv.DictReader(open(VENDORED / "labels.csv")))[:files]
    return _write_copy(tmp_path, rows), rows


def test_bad_copies_are_named_not_tracebacks(tmp_path):
    with pytest.raises(Pointing04Error, match="no such folder"):
        read_frames(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Pointing04Error, match="labels.csv"):
        read_frames(tmp_path / "empty")
    root, rows = _copy(tmp_path)
    (root / rows[0]["file"]).unlink()
    found = read_frames(root)
    assert found.missing == [rows[0]["file"]] and len(found.frames) == len(rows) - 1  # counted, not dropped silently
    with pytest.raises(Pointing04Error, match="tilt 15"):
        read_frames(root, tilt=15)
    (root / "labels.csv").write_text("file,person\nx.jpg,1\n")
    with pytest.raises(Pointing04Error, match="lacks the columns"):
        read_frames(root)


def test_the_tight_crop_is_a_square_of_1_15_face_boxes_about_the_box_centre():
    rgb = np.zeros((288, 384, 3), np.uint8)
    box = (100, 80, 180, 200)  # 80 x 120: the square's side is 1.15 x 120 = 138
    left, top, side = tight_square(box, rgb.shape)
    assert side == 138 and (left + side / 2, top + side / 2) == (140, 140)
    crop, m = tight_crop(rgb, box)
    assert crop.shape == (128, 128, 3)
    centre = np.array([140 - 0.5, 140 - 0.5]) @ m[:, :2].T + m[:, 2]  # the box's centre in pixel-centre coordinates
    np.testing.assert_allclose(centre, [63.5, 63.5], atol=1e-6)
    # near the frame's edge the square moves inside the frame rather than running past it
    assert tight_square((0, 0, 60, 100), rgb.shape)[:2] == (0, 0)


def test_wilson_interval():
    lo, hi = wilson(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-3)  # textbook value
    lo, hi = wilson(60, 60)
    assert hi == 1 and lo == pytest.approx(0.9398, abs=1e-3)
    assert np.isnan(wilson(0, 0)[0])
    assert Share(58, 60).cell() == "96.7 (88.6–99.1; 60)"
    assert separated(Share(60, 60), Share(30, 60)) and not separated(Share(58, 60), Share(55, 60))


def _frame(person, pan, series=2):
    from frontalize.data.pointing04 import Frame

    return Frame(VENDORED / f"p{person}_{pan}.jpg", person, series, 0, pan, (0, 0, 1, 1))


def test_rank1_counts_an_unprocessed_probe_as_a_miss_and_shows_it():
    gallery = {"full": {1: np.zeros(4), 2: np.ones(4)}}
    tally = RealFaceTally(gallery)
    views = ["raw", "warp"]
    tally.add(ProbeResult(_frame(1, -45), "full", {"raw": np.full(4, 0.1), "warp": np.full(4, 0.2)}, {}, 40.0), views)
    tally.add(ProbeResult(_frame(2, 45), "full", {"raw": np.full(4, 0.1)}, {"warp": "no face found"}, None), views)
    tally.add(ProbeResult(_frame(2, 90), "full", {"raw": np.full(4, 0.9), "warp": np.full(4, 0.6)}, {}, -70.0), views)
    table = tally.table("full")
    assert table["raw"]["45"]["probes"] == 2 and table["raw"]["45"]["hits"] == 1
    assert table["warp"]["45"]["hits"] == 1 and table["warp"]["45"]["unprocessed"] == 1
    assert table["warp"][ALL]["rate"] == pytest.approx(2 / 3)
    assert tally.rows[3]["problem"] == "no face found" and tally.rows[3]["processed"] == 0
    fitted = tally.fitted_yaw("full")
    assert fitted["45"]["median_outward"] == pytest.approx(-5.0)  # 40 for a label of 45: turned 5 degrees too little
    assert fitted["90"]["median_abs_error"] == pytest.approx(20.0)


def test_views_of_the_same_probes_are_compared_probe_by_probe():
    """The paired comparison counts only the probes one view gets right and the other wrong (an unprocessed probe is
    a miss), per |yaw| and over all, with the exact McNemar p-value; the report prints it."""
    from frontalize.evaluation.intervals import mcnemar
    from frontalize.evaluation.real_faces_report import paired_markdown, paired_tables

    tally = RealFaceTally({"full": {1: np.zeros(4), 2: np.ones(4)}})
    views = ["raw", "warp"]
    right, wrong = np.full(4, 0.1), np.full(4, 0.9)  # person 1's probes: near their gallery, or near person 2's
    for pan, raw, warp in ((-45, right, right), (45, wrong, right), (-60, wrong, right), (60, right, None),
                           (-90, wrong, wrong)):
        descriptors = {"raw": raw} if warp is None else {"raw": raw, "warp": warp}
        tally.add(ProbeResult(_frame(1, pan), "full", descriptors, {} if warp is not None else {"warp": "no face"},
                              None), views)
    cells = tally.paired("full", "warp", "raw")
    assert (cells["45"]["only_a"], cells["45"]["only_b"]) == (1, 0)
    assert (cells["60"]["only_a"], cells["60"]["only_b"]) == (1, 1)  # the unprocessed warp is a miss
    assert (cells["90"]["only_a"], cells["90"]["only_b"]) == (0, 0) and cells["90"]["p"] == 1.0
    assert (cells[ALL]["only_a"], cells[ALL]["only_b"]) == (2, 1) and cells[ALL]["p"] == pytest.approx(1.0)
    assert mcnemar(10, 0) == pytest.approx(2 * 0.5 ** 10) and mcnemar(3, 3) == 1.0
    text = "\n".join(paired_markdown(paired_tables(tally, "full"), tally.keys("full")))
    assert "| warp only against raw | +1 / −0 (1) | +1 / −1 (1) | +0 / −0 (1) | +2 / −1 (1) |" in text


def test_the_backdrop_gap_tells_the_studio_grey_from_a_photos_own_scene():
    from frontalize.evaluation.real_faces import SYNTHPIE_BACKDROP, backdrop_gap

    scene = np.random.default_rng(0).integers(0, 256, (128, 128, 3)).astype(np.uint8)  # a busy photo
    painted = scene.copy()
    painted[:40] = SYNTHPIE_BACKDROP  # what a refiner that learned SynthPIE's studio does above the face
    painted[:, :25] = SYNTHPIE_BACKDROP
    painted[:, -25:] = SYNTHPIE_BACKDROP
    assert backdrop_gap(scene) > 50 and backdrop_gap(painted) < 5
    grey_face = scene.copy()
    grey_face[41:118, 26:102] = SYNTHPIE_BACKDROP  # inside the template's face box: not the surroundings
    assert backdrop_gap(grey_face) == pytest.approx(backdrop_gap(scene), abs=3)
    tally = RealFaceTally({"full": {1: np.zeros(4)}})
    result = ProbeResult(_frame(1, 30), "full", {"raw": np.zeros(4), "warp": np.zeros(4)}, {}, 28.0)
    result.backdrop = {"aligned": backdrop_gap(scene), "warp": backdrop_gap(painted)}
    tally.add(result, ["raw", "warp"])
    gaps = tally.backdrop_gaps("full")
    assert list(gaps) == ["aligned", "warp"] and gaps["warp"]["30"] < gaps["aligned"]["30"]


def _subset(tmp_path, people=(1, 2), pans=(0, -45, 45, -90)):
    rows = [r for r in csv.DictReader(open(VENDORED / "labels.csv"))
            if int(r["person"]) in people and int(r["pan"]) in pans]
    return _write_copy(tmp_path, rows)


def test_eval_pointing04_writes_the_real_face_report_with_counts_intervals_and_grids(tmp_path, capsys):
    from frontalize.cli.main import main as cli

    root = _subset(tmp_path)
    out = tmp_path / "report"
    assert cli(["eval", "--protocol", "pointing04", "--root", str(root), "--warp-only", "--out", str(out), "--quiet"]) == 0
    text = (out / "rank1_pointing04.md").read_text()
    assert "Gourier" in text and "asked to look" in text  # the licence's citation and what the labels are
    assert "#### full frames" in text and "#### tight 128-px face crops" in text
    assert "95 % intervals" in text and "Not processed" in text
    assert "studio grey" in text  # what the output paints beyond the face, against the photo's own
    assert "| warp only against raw |" in text and "McNemar" in text  # the paired comparison
    rows = list(csv.DictReader(open(out / "rank1_pointing04.csv")))
    views = {r["view"] for r in rows}
    assert views == {"raw", "warp", "warp_fused"}
    cell = next(r for r in rows if r["condition"] == "full" and r["view"] == "raw" and r["abs_yaw"] == "45")
    assert int(cell["probes"]) == 8 and float(cell["low95"]) <= float(cell["rank1"]) <= float(cell["high95"])
    probes = list(csv.DictReader(open(out / "probes_pointing04.csv")))
    assert len(probes) == 2 * 3 * 14  # conditions x views x (16 frames less 2 gallery frames)
    for condition in ("full", "tight"):
        grid = out / f"samples_pointing04_{condition}.png"
        assert grid.exists()
    assert "Pointing'04" in capsys.readouterr().out


def test_eval_pointing04_says_what_is_wrong_with_a_bad_folder(tmp_path, capsys):
    from frontalize.cli.main import main as cli

    assert cli(["eval", "--protocol", "pointing04", "--root", str(tmp_path), "--warp-only", "--quiet"]) == 2
    assert "labels.csv" in capsys.readouterr().err
