"""What a table's figures count: one column per camera, quality over probes with a target, Setting 2's gallery.

Hand-made manifests with tiny crops and a fake recognizer whose embeddings the test controls: a crop's red
level says whose face it is, so every rank-1 figure is known before the evaluator runs.
"""
import csv
import json
import zlib

import cv2
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from frontalize.data.multipie import CAMERA_BY_NAME, ShotId
from frontalize.evaluation.identification import Scorer, identify
from frontalize.evaluation.quality import TargetQuality
from frontalize.evaluation.report import write_report

SIZE = 32


class SubjectFromRed:
    """Embeds a crop as the one-hot of the subject its red level encodes (red = 20 * subject)."""

    def embed(self, images: torch.Tensor, flip: bool = False) -> torch.Tensor:
        red = (images[:, 0].mean(dim=(1, 2)) + 1) * 127.5
        return torch.nn.functional.one_hot((red / 20).round().long(), 16).float()


def _crop(prepared, shot: ShotId, looks_like: int | None = None) -> str:
    """A crop of ``shot``: red encodes the subject (or ``looks_like``), green and blue are this image's own noise."""
    rel = f"crops/{shot.filename}"
    rng = np.random.default_rng(zlib.crc32(shot.filename.encode()))
    rgb = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    rgb[..., 0] = 20 * (looks_like or shot.subject)
    (prepared / "crops").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(prepared / rel), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return rel


def _row(prepared, subject, session, recording, camera, flash, role, target="same", looks_like=None) -> dict:
    """A manifest row as the CSV gives it (strings); ``target``: "same" (the frontal shot of the same flash, written
    too), "" (none) or a path."""
    shot = ShotId(subject, session, recording, camera, flash)
    crop = _crop(prepared, shot, looks_like)
    if target == "same":
        target = crop if camera == "05_1" else _crop(prepared, shot.frontal_target())
    return {"crop_path": crop, "subject": str(subject), "session": str(session), "recording": str(recording),
            "expression": "neutral", "camera": camera, "yaw": str(CAMERA_BY_NAME[camera].yaw), "flash": str(flash),
            "split": "train" if role == "train" else "test", "role": role, "target_path": target,
            "landmark_source": "sidecar", "source_path": "", "landmarks": "", "pose": ""}


def _identify(rows, prepared, protocol, quality=False):
    scorer = Scorer("", SubjectFromRed())
    observers = (TargetQuality(scorer, prepared, SIZE, "cpu"),) if quality else ()
    views = {"frontalized": lambda x, _: x} if quality else {}  # the frontalized view: the probe itself
    return identify(rows, prepared, SIZE, "cpu", [scorer], protocol, views=views, observers=observers)


# ------------------------------------------------------------------------------------------ columns
def test_raised_cameras_have_their_own_columns_everywhere(tmp_path):
    """session01-shaped: the raised cameras 08_1 and 19_1 are not the head-height -45/+45; "all" counts each probe once."""
    rows = []
    for s in (1, 2, 3):
        rows.append(_row(tmp_path, s, 1, 1, "05_1", 7, "gallery"))
        for camera in ("08_0", "19_0", "05_1"):
            rows.append(_row(tmp_path, s, 1, 1, camera, 4, "probe"))
        for camera in ("08_1", "19_1"):  # subject 3's raised views look like subject 1: a miss there only
            rows.append(_row(tmp_path, s, 1, 1, camera, 4, "probe", looks_like=1 if s == 3 else None))
    result = _identify(rows, tmp_path, "session01", quality=True)
    table = result["table"]
    assert list(table) == ["-45", "0", "+45", "-45↑", "+45↑", "all"]
    assert {k: v["probes"] for k, v in table.items()} == {"-45": 3, "0": 3, "+45": 3, "-45↑": 3, "+45↑": 3, "all": 15}
    assert table["-45"]["raw"] == 1.0 and table["+45"]["raw"] == 1.0
    assert table["-45↑"]["raw"] == pytest.approx(2 / 3) and table["+45↑"]["raw"] == pytest.approx(2 / 3)
    assert table["all"]["raw"] == pytest.approx(13 / 15)
    paths = write_report(result, tmp_path / "report", "session01", "raised")
    md = paths["markdown"].read_text()
    assert "| yaw | -45° | 0° | +45° | -45°↑ | +45°↑ | all |" in md
    assert "| rank-1 raw (%) | 100.0 | 100.0 | 100.0 | 66.7 | 66.7 | 86.7 |" in md
    assert "| probes | 3 | 3 | 3 | 3 | 3 | 15 |" in md
    with open(paths["csv"], newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert [r["yaw"] for r in csv_rows] == ["-45", "0", "+45", "-45↑", "+45↑", "all"]
    assert [int(r["probes"]) for r in csv_rows] == [3, 3, 3, 3, 3, 15]
    doc = json.loads(paths["json"].read_text())
    assert doc["columns"] == ["-45", "0", "+45", "-45↑", "+45↑", "all"]
    assert doc["table"]["-45↑"]["probes"] == 3 and doc["table"]["all"]["probes"] == 15
    assert cv2.imread(str(paths["chart"])) is not None


# ------------------------------------------------------------------------------------------ quality
def _face_ssim(prepared, a: str, b: str, whole: bool = False) -> float:
    from frontalize.data.template import region_boxes

    x0, y0, x1, y1 = (0, 0, SIZE, SIZE) if whole else region_boxes(SIZE)["face"]
    read = [cv2.cvtColor(cv2.imread(str(prepared / p)), cv2.COLOR_BGR2RGB)[y0:y1, x0:x1] for p in (a, b)]
    return structural_similarity(read[1], read[0], channel_axis=2, data_range=255)


def test_quality_means_are_over_probes_with_a_target_other_than_themselves(tmp_path):
    rows = [_row(tmp_path, s, 1, 1, "05_1", 7, "gallery") for s in (1, 2)]
    with_target = [_row(tmp_path, 1, 1, 1, "14_0", 4, "probe"), _row(tmp_path, 2, 1, 1, "14_0", 10, "probe")]
    without = [_row(tmp_path, s, 1, 1, "14_0", f, "probe", target="") for s, f in ((1, 10), (2, 4), (2, 7))]
    own = [_row(tmp_path, s, 1, 1, "05_1", 4, "probe") for s in (1, 2)]  # 0 degrees: the target is the probe itself
    assert all(r["target_path"] == r["crop_path"] for r in own)
    result = _identify(rows + with_target + without + own, tmp_path, "setting1", quality=True)
    table = result["table"]
    expected = np.mean([_face_ssim(tmp_path, r["crop_path"], r["target_path"]) for r in with_target])
    assert table["-15"]["probes"] == 5 and table["-15"]["probes_with_target"] == 2
    assert table["-15"]["ssim"] == pytest.approx(expected)  # not 2/5 of it
    whole = np.mean([_face_ssim(tmp_path, r["crop_path"], r["target_path"], whole=True) for r in with_target])
    assert table["-15"]["crop_ssim"] == pytest.approx(whole) and whole != pytest.approx(expected)
    assert table["-15"]["self_target_probes"] == 0
    assert table["0"]["probes"] == 2 and table["0"]["probes_with_target"] == 0 and table["0"]["self_target_probes"] == 2
    assert "ssim" not in table["0"] and "psnr" not in table["0"]
    assert table["all"]["ssim"] == pytest.approx(expected) and table["all"]["probes_with_target"] == 2
    assert table["all"]["probes"] == 7 and table["all"]["raw"] == 1.0  # rank-1 still counts every probe
    paths = write_report(result, tmp_path / "report", "setting1", "quality")
    md = paths["markdown"].read_text()
    assert "| probes with a target | 2 | 0 | 2 |" in md
    assert f"| SSIM whole crop | {whole:.3f} | – | {whole:.3f} |" in md
    assert "leave out 2 probes (2 at 0°) that are their own frontal target" in md
    doc = json.loads(paths["json"].read_text())
    assert doc["self_target_probes"] == 2 and doc["table"]["-15"]["probes_with_target"] == 2
    with open(paths["csv"], newline="") as f:
        assert [r["probes_with_target"] for r in csv.DictReader(f)] == ["2", "0", "2"]


# ------------------------------------------------------------------------------------------ setting 2
def _setting2_rows(prepared) -> list[dict]:
    """Two sessions, session 04 with both neutral recordings.  Subject 2 attends sessions 01 and 04 (gallery: 01),
    subject 3 only 04 (gallery: 04, recording 01), subject 4's gallery image is missing; subject 1 trains."""
    rows = [_row(prepared, 1, 1, 1, "14_0", 7, "train"), _row(prepared, 1, 4, 2, "14_0", 7, "train")]
    rows.append(_row(prepared, 2, 1, 1, "05_1", 7, "gallery"))
    rows += [_row(prepared, 2, 1, 1, c, 7, "probe") for c in ("14_0", "05_0")]
    rows += [_row(prepared, 2, 4, 1, "14_0", 7, "probe")]
    rows += [_row(prepared, 2, 4, 2, c, 7, "probe") for c in ("14_0", "05_1")]  # recording 02: a probe, even frontal
    rows.append(_row(prepared, 3, 4, 1, "05_1", 7, "gallery"))
    rows += [_row(prepared, 3, 4, 1, "14_0", 7, "probe")]
    rows += [_row(prepared, 3, 4, 2, c, 7, "probe") for c in ("14_0", "05_1")]
    rows += [_row(prepared, 4, 1, 1, "14_0", 7, "probe"), _row(prepared, 4, 4, 2, "14_0", 7, "probe")]
    return rows


def test_setting2_scores_every_neutral_recording_against_the_earliest_session_gallery(tmp_path):
    result = _identify(_setting2_rows(tmp_path), tmp_path, "setting2")
    assert result["table"]["all"]["probes"] == 8  # every probe of a subject with a gallery image
    assert result["by_recording"]["2"]["all"]["probes"] == 4  # session 04's second neutral recording
    assert result["by_recording"]["1"]["all"]["probes"] == 4
    assert result["table"]["all"]["raw"] == 1.0
    assert {k: v["probes"] for k, v in result["table"].items()} == {"-15": 5, "0": 2, "+15": 1, "all": 8}


def test_setting2_subjects_without_a_gallery_image_are_counted_not_missed(tmp_path):
    result = _identify(_setting2_rows(tmp_path), tmp_path, "setting2")
    assert result["without_gallery"] == {"subjects": [4], "probes": 2}
    assert result["table"]["all"]["raw"] == 1.0  # subject 4's probes are not misses
    paths = write_report(result, tmp_path / "report", "setting2", "setting2")
    doc = json.loads(paths["json"].read_text())
    assert doc["without_gallery"] == {"subjects": [4], "probes": 2}
    assert "2 probes of 1 test subjects without a gallery image (subjects 4)" in paths["markdown"].read_text()


def test_the_gallery_rule_is_the_protocols_not_guessed(tmp_path):
    """The same rows read as a per-recording protocol: recording 02 has no gallery, so its probes have none."""
    result = _identify(_setting2_rows(tmp_path), tmp_path, "session01")
    assert result["table"]["all"]["probes"] == 4 and result["without_gallery"]["probes"] == 6
    with pytest.raises(ValueError, match="unknown protocol"):
        _identify(_setting2_rows(tmp_path), tmp_path, "setting3")


# ------------------------------------------------------------------------------------------ poses
def test_views_of_one_batch_share_its_pose_fit(tmp_path, monkeypatch):
    """The generator and the warp-only views warp the same probes: each batch's poses are fitted once, not per view."""
    import frontalize.evaluation.identification as identification
    from frontalize.geometry.pose import frontal_pose

    fits = []

    def counted(rows, size):
        fits.append(len(rows))
        return np.stack([frontal_pose(size).as_vector() for _ in rows])

    monkeypatch.setattr(identification, "row_poses", counted)
    rows = [_row(tmp_path, s, 1, 1, "05_1", 7, "gallery") for s in (1, 2)]
    rows += [_row(tmp_path, s, 1, 1, camera, 4, "probe") for s in (1, 2) for camera in ("14_0", "05_0", "13_0")]
    views = {"raw": lambda x, r: x, "warp": identification.warp_view(SIZE, "cpu"),
             "warp_again": identification.warp_view(SIZE, "cpu")}
    result = identify(rows, tmp_path, SIZE, "cpu", [Scorer("", SubjectFromRed())], "setting1", views=views, batch=4)
    assert sum(fits) == 6 and fits == [4, 2]  # two batches of probes, one fit each
    assert result["table"]["all"]["probes"] == 6


# ------------------------------------------------------------------------------------------ the papers' layout
def test_fold_by_abs_yaw_weighs_each_probe_once():
    from frontalize.evaluation.folded import fold_by_abs_yaw

    table = {"-45": {"raw": 1.0, "ssim": 0.9, "probes": 2}, "+45": {"raw": 0.0, "probes": 6},
             "0": {"raw": 1.0, "probes": 4}, "-45↑": {"raw": 0.5, "probes": 2}, "all": {"raw": 0.5, "probes": 14}}
    folded = fold_by_abs_yaw(table, ["raw"])
    assert list(folded) == ["±45", "±45↑", "all"]  # no 0° column; the raised camera apart
    assert folded["±45"] == {"raw": 0.25, "probes": 8}  # 2 hits of 8 probes, not the mean of 100 % and 0 %
    assert folded["±45↑"] == {"raw": 0.5, "probes": 2}
    assert folded["all"] == {"raw": 0.5, "probes": 14}  # the per-camera "all": every probe once, 0° included


def test_the_report_adds_the_papers_table_folded_by_abs_yaw(tmp_path):
    """A probe at -45 and one at +45 land in ±45; "all" counts each probe once; both recognizers' rows."""
    rows = [_row(tmp_path, s, 1, 1, "05_1", 7, "gallery") for s in (1, 2, 3)]
    rows += [_row(tmp_path, s, 1, 1, "08_0", 4, "probe", looks_like=1 if s == 3 else None) for s in (1, 2, 3)]
    rows += [_row(tmp_path, s, 1, 1, "19_0", 4, "probe") for s in (1, 2)]
    rows += [_row(tmp_path, s, 1, 1, "05_1", 4, "probe") for s in (1, 2, 3)]
    rows += [_row(tmp_path, 1, 1, 1, "14_0", 4, "probe")]
    scorers = [Scorer("", SubjectFromRed()), Scorer("judge", SubjectFromRed())]
    result = identify(rows, tmp_path, SIZE, "cpu", scorers, "setting2", views={"frontalized": lambda x, _: x},
                      fusions={"fused": ("raw", "frontalized")})
    paths = write_report(result, tmp_path / "report", "setting2", "folded")
    md = paths["markdown"].read_text()
    per_camera, folded = md.split("#### rank-1 by |yaw|")
    assert "| yaw | -45° | -15° | 0° | +45° | all |" in per_camera  # the per-camera table stays
    assert "| yaw | ±15° | ±45° | all |" in folded
    for label in ("raw", "frontalized", "raw+frontalized fusion"):
        assert f"| rank-1 {label} (%) | 100.0 | 80.0 | 88.9 |" in folded
        assert f"| rank-1 {label}, independent judge (%) | 100.0 | 80.0 | 88.9 |" in folded
    assert "| probes | 1 | 5 | 9 |" in folded and "the 3 at 0° included" in folded
    doc = json.loads(paths["json"].read_text())
    assert doc["by_abs_yaw"]["±45"] == {**{k: pytest.approx(0.8) for k in ("raw", "frontalized", "fused", "raw_judge",
                                                                          "frontalized_judge", "fused_judge")}, "probes": 5}
    with open(paths["folded_csv"], newline="") as f:
        assert [(r["yaw"], r["probes"], r["rank1_raw"]) for r in csv.DictReader(f)] == [
            ("±15", "1", "1.0000"), ("±45", "5", "0.8000"), ("all", "9", "0.8889")]
    assert cv2.imread(str(paths["folded_chart"])) is not None


def test_the_report_header_gives_the_probe_subsample_and_the_total(tmp_path):
    rows = [_row(tmp_path, s, 1, 1, "05_1", 7, "gallery") for s in (1, 2)]
    rows += [_row(tmp_path, s, 1, 1, "14_0", f, "probe") for s in (1, 2) for f in (4, 10)]
    result = identify(rows, tmp_path, SIZE, "cpu", [Scorer("", SubjectFromRed())], "setting2", per_yaw=2, seed=3)
    assert result["subsample"] == {"per_column": 2, "seed": 3, "scored": 2, "of": 4}
    md = write_report(result, tmp_path / "report", "setting2", "subsample")["markdown"].read_text()
    assert "Probes: 2 of the 4 that have a gallery image, a fixed subsample (at most 2 per camera column, spread " \
           "evenly over the flashes, seed 3)." in md
    full = identify(rows, tmp_path, SIZE, "cpu", [Scorer("", SubjectFromRed())], "setting2")
    assert full["subsample"] is None and "Probes:" not in write_report(full, tmp_path / "r2", "setting2", "x")["markdown"].read_text()


# ------------------------------------------------------------------------------------------ intervals
def _wilson_by_hand(hits: int, n: int) -> tuple[float, float]:
    """Wilson's score interval at 95 %, from its formula (z = 1.959964)."""
    z, p = 1.959963984540054, hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return centre - half, centre + half


def test_every_rank1_cell_carries_its_probes_and_a_95_interval(tmp_path):
    """Per camera and folded by |yaw|, in Markdown, CSV and JSON: the shared and the judge's rows, 2 hits of 3 at the
    raised cameras, 4 of 6 folded at ±45↑ ... each with Wilson's interval over its probes."""
    rows = []
    for s in (1, 2, 3):
        rows.append(_row(tmp_path, s, 1, 1, "05_1", 7, "gallery"))
        for camera in ("08_0", "19_0", "05_1"):
            rows.append(_row(tmp_path, s, 1, 1, camera, 4, "probe"))
        for camera in ("08_1", "19_1"):  # subject 3's raised views look like subject 1: a miss there only
            rows.append(_row(tmp_path, s, 1, 1, camera, 4, "probe", looks_like=1 if s == 3 else None))
    scorers = [Scorer("", SubjectFromRed()), Scorer("judge", SubjectFromRed())]
    result = identify(rows, tmp_path, SIZE, "cpu", scorers, "session01")
    paths = write_report(result, tmp_path / "report", "session01", "intervals")

    def cell(hits, n):
        low, high = _wilson_by_hand(hits, n)
        return f"{100 * low:.1f}–{100 * high:.1f}"

    md = paths["markdown"].read_text()
    per_camera, folded = md.split("#### rank-1 by |yaw|")
    interval_row = (f"| 95 % interval (Wilson) | {cell(3, 3)} | {cell(3, 3)} | {cell(3, 3)} | {cell(2, 3)} | "
                    f"{cell(2, 3)} | {cell(13, 15)} |")
    for label in ("rank-1 raw (%)", "rank-1 raw, independent judge (%)"):  # each rank-1 row, then its interval
        assert f"| {label} | 100.0 | 100.0 | 100.0 | 66.7 | 66.7 | 86.7 |\n{interval_row}\n" in per_camera
    assert "| probes | 3 | 3 | 3 | 3 | 3 | 15 |" in per_camera
    assert f"| rank-1 raw (%) | 100.0 | 66.7 | 86.7 |\n| 95 % interval (Wilson) | {cell(6, 6)} | {cell(4, 6)} | " \
           f"{cell(13, 15)} |\n" in folded
    with open(paths["csv"], newline="") as f:
        by_yaw = {r["yaw"]: r for r in csv.DictReader(f)}
    for yaw, (hits, n) in {"-45↑": (2, 3), "0": (3, 3), "all": (13, 15)}.items():
        for column in ("raw", "raw_judge"):
            assert int(by_yaw[yaw]["probes"]) == n
            assert float(by_yaw[yaw][f"rank1_{column}_low95"]) == pytest.approx(_wilson_by_hand(hits, n)[0], abs=1e-4)
            assert float(by_yaw[yaw][f"rank1_{column}_high95"]) == pytest.approx(_wilson_by_hand(hits, n)[1], abs=1e-4)
    with open(paths["folded_csv"], newline="") as f:
        folded_csv = {r["yaw"]: r for r in csv.DictReader(f)}
    assert float(folded_csv["±45↑"]["rank1_raw_low95"]) == pytest.approx(_wilson_by_hand(4, 6)[0], abs=1e-4)
    doc = json.loads(paths["json"].read_text())
    intervals = doc["rank1_intervals"]
    assert intervals["level"] == 0.95 and "Wilson" in intervals["method"]
    cell_doc = intervals["table"]["+45↑"]["raw_judge"]
    assert (cell_doc["hits"], cell_doc["probes"]) == (2, 3)
    assert (cell_doc["low95"], cell_doc["high95"]) == pytest.approx(_wilson_by_hand(2, 3))
    assert intervals["by_abs_yaw"]["±45↑"]["raw"]["hits"] == 4 and intervals["by_abs_yaw"]["±45↑"]["raw"]["probes"] == 6
    assert intervals["by_recording"]["1"]["all"]["raw"]["hits"] == 13
    assert set(intervals["table"]["all"]) == {"raw", "raw_judge"}  # rank-1 columns only, never a count


def test_a_rank1_figure_that_is_not_a_share_of_its_probes_gets_no_interval():
    from frontalize.evaluation.cells import rank1_share

    assert rank1_share({"raw": 2 / 3, "probes": 3}, "raw").hits == 2
    with pytest.raises(ValueError, match="is not a share of hits among them"):
        rank1_share({"raw": 0.5, "probes": 3}, "raw")
