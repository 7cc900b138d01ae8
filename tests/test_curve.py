"""`frontalize curve`: a GAN run's time-to-quality curve on its validation subjects."""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from frontalize.cli.main import main as cli
from conftest import random_recognizer

STEPS = 3


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def val_run(prepared_tiny, tmp_path_factory):
    """A three-step setting1 run on `tiny` holding out one validation subject, checked and checkpointed every step,
    with a moving average that differs from the trained weights; and a judge (random weights, knows nobody)."""
    from frontalize.runs.folders import runs_of

    out, _ = prepared_tiny
    tmp = tmp_path_factory.mktemp("curve")
    rec = random_recognizer(tmp / "recognizer.pt", seed=3)
    judge = random_recognizer(tmp / "judge.pt", seed=4)
    args = {"data.prepared": out, "data.size": 64, "data.workers": 0, "model.width": 0.125, "model.d_width": 8,
            "train.batch_size": 2, "train.steps": STEPS, "train.runs_dir": tmp / "runs", "train.log_every": 1,
            "train.sample_every": 1000, "train.checkpoint_every": 1, "train.eval_every": 1, "train.keep_last": 10,
            "train.threads": 1, "train.ema": 0.5, "loss.identity_features": "recognizer", "loss.recognizer": rec,
            "loss.feature": 1.0, "wandb.mode": "disabled", "data.val_subjects": 1}
    assert cli(["train", "--setting", "1_4", "--cpu", "--quiet", *[f"{k}={v}" for k, v in args.items()]]) == 0
    return runs_of(tmp / "runs" / "gan")[-1], judge, out


@pytest.fixture(scope="module")
def curve(val_run, tmp_path_factory):
    run, judge, _ = val_run
    out = tmp_path_factory.mktemp("curve_out")
    assert cli(["curve", str(run), "--judge", str(judge), "--external", str(judge), "--out", str(out), "--quiet"]) == 0
    return out


def _validation(prepared: Path):
    from frontalize.data.manifest import read_manifest
    from frontalize.training.validation import hold_out_subjects, validation_rows

    manifest = read_manifest(prepared, "setting1", 64)
    rows, held = hold_out_subjects(manifest.rows, 1)
    val = validation_rows(rows, manifest.gallery_flash, "setting1")
    return [r for r in val if r["role"] == "gallery"], [r for r in val if r["role"] == "probe"], held


def _by_hand(judge, prepared: Path, transform) -> dict:
    """Rank-1 (one gallery: setting1 on `tiny` has one recording) and mean face-box / whole-crop SSIM, by hand."""
    from frontalize.data.images import load_batch, to_uint8
    from frontalize.data.multipie import camera_column
    from frontalize.data.template import region_boxes

    gallery, probes, _ = _validation(prepared)
    with torch.no_grad():
        g = judge.embed(load_batch(prepared, [r["crop_path"] for r in gallery], 64, "cpu"))
        pictures = transform(load_batch(prepared, [r["crop_path"] for r in probes], 64, "cpu"), probes)
        nearest = (judge.embed(pictures) @ g.T).argmax(1).tolist()
    hits = np.array([gallery[i]["subject"] == r["subject"] for i, r in zip(nearest, probes)])
    x0, y0, x1, y1 = region_boxes(64)["face"]
    face, whole = [], []
    for k, r in enumerate(probes):
        if r["target_path"] and r["target_path"] != r["crop_path"]:
            a = to_uint8(pictures[k])
            t = to_uint8(load_batch(prepared, [r["target_path"]], 64, "cpu")[0])
            face.append(structural_similarity(t[y0:y1, x0:x1], a[y0:y1, x0:x1], channel_axis=2, data_range=255))
            whole.append(structural_similarity(t, a, channel_axis=2, data_range=255))
    column = np.array([camera_column(r["camera"]) for r in probes])
    return {"rank1_all": hits.mean(), "rank1_-45": hits[column == "-45"].mean(), "rank1_+45": hits[column == "+45"].mean(),
            "ssim_face": np.mean(face),
            "ssim_crop": np.mean(whole), "probes": len(probes), "with_target": len(face)}


def test_one_point_per_checkpoint_in_step_order_on_the_run_clock(val_run, curve):
    from frontalize.runs import checkpoint as ckpt

    run, _, _ = val_run
    doc = json.loads((curve / "curve.json").read_text())
    points = doc["points"]
    saved = [int(ckpt.CKPT.match(p.name).group(1)) for p in ckpt.list_checkpoints(run / "checkpoints")]
    assert saved == list(range(1, STEPS + 1))
    assert [p["step"] for p in points] == [0, *saved]
    assert [p["checkpoint"] for p in points] == ["", *(f"step_{s:08d}.pt" for s in saved)]
    train, elapsed = [p["train_s"] for p in points], [p["elapsed_s"] for p in points]
    assert train[0] == elapsed[0] == 0 and all(b > a for a, b in zip(train, train[1:]))
    assert all(e >= t for t, e in zip(train, elapsed))
    # the clock is the training loop's: at the last step, the log line's time since the loop began ...
    records = _metrics(run)
    logs = [r for r in records if "step_s" in r]
    start = logs[0]["time"] - logs[0]["step_s"] * logs[0]["step"]
    assert points[-1]["elapsed_s"] == pytest.approx(logs[-1]["time"] - start, abs=0.05)
    # ... less each earlier validation check: the gap between its step's log line and its result line
    checks = {r["step"]: r["time"] for r in records if "val/rank1_frontalized" in r}
    assert sorted(checks) == saved
    gaps = [checks[s] - next(r["time"] for r in logs if r["step"] == s) for s in saved[:-1]]
    assert points[-1]["validation_s"] == pytest.approx(sum(gaps)) and sum(gaps) > 0
    assert points[-1]["train_s"] == pytest.approx(points[-1]["elapsed_s"] - sum(gaps))
    with open(curve / "curve.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["line"] for r in rows] == ["raw", "warp", *["curve"] * (STEPS + 1)]
    assert [r["step"] for r in rows[2:]] == [str(p["step"]) for p in points]
    md = (curve / "curve.md").read_text()
    assert "| 0 (warp only) |" in md and "| raw probes |" in md and f"| {STEPS} " in md
    assert "external, user-declared (--external)." in md  # the judge, taken on the user's word, is named so
    assert "Independent judge against the shared recognizer: architecture IResNet r18 layout at width 0.25, 128-d " \
           "against IResNet r18 layout at width 0.25, 128-d; seed not recorded against not recorded; file " in md
    assert "both trained elsewhere (external): their people not compared." in md
    import cv2

    chart = cv2.imread(str(curve / "curve.png"))
    assert chart is not None and chart.shape[1] > 2 * chart.shape[0]  # two panels side by side


def test_warp_line_and_points_are_what_the_views_score(val_run, curve):
    """Step 0 and the warp line are the warp view scored by hand; the last point is the checkpoint's moving
    average (not its trained weights) scored by hand; the raw line is the probes as they are."""
    from frontalize.evaluation.identification import warp_view
    from frontalize.inference.frontalizer import load_generator
    from frontalize.recognition.recognizer import Recognizer
    from frontalize.runs import checkpoint as ckpt

    run, judge_path, prepared = val_run
    doc = json.loads((curve / "curve.json").read_text())
    judge = Recognizer.load(judge_path)
    _, probes, held = _validation(prepared)
    assert doc["validation"]["subjects"] == sorted(held) and doc["validation"]["probes"] == len(probes)

    def same(point, hand):
        for key in ("rank1_all", "rank1_-45", "rank1_+45", "ssim_face", "ssim_crop"):
            assert point[key] == pytest.approx(hand[key], rel=1e-5), key
        assert point["probes"] == hand["probes"] and point["probes_with_target"] == hand["with_target"] > 0

    warp = _by_hand(judge, prepared, warp_view(64, torch.device("cpu")))
    same(doc["baselines"]["warp"], warp)
    same(doc["points"][0], warp)
    same(doc["baselines"]["raw"], _by_hand(judge, prepared, lambda x, rows: x))
    last = ckpt.list_checkpoints(run / "checkpoints")[-1]
    generator, _ = load_generator(last, torch.device("cpu"))
    shipped = _by_hand(judge, prepared, lambda x, rows: generator(x, torch.from_numpy(_poses(rows)))[-1])
    same(doc["points"][-1], shipped)
    trained = ckpt.load(last)["generator"]
    generator.load_state_dict(trained)
    assert _by_hand(judge, prepared, lambda x, rows: generator(x, torch.from_numpy(_poses(rows)))[-1])["ssim_face"] \
        != pytest.approx(doc["points"][-1]["ssim_face"], rel=1e-6)  # the curve scores the moving average


def _poses(rows):
    from frontalize.geometry.pose import row_poses

    return row_poses(rows, 64)


def test_missing_or_unusable_inputs_are_clear_errors(val_run, tiny_gan, tmp_path, capsys):
    from frontalize.data.manifest import read_manifest
    from frontalize.runs.provenance import TrainedOn

    run, judge, prepared = val_run
    cases = [
        (["curve", str(tmp_path / "nowhere"), "--judge", str(judge)], "run folder not found"),
        (["curve", str(run), "--judge", str(tmp_path / "judge.pt")], "judge recognizer not found"),
        (["curve", str(tmp_path), "--judge", str(judge)], "no config.yaml"),
    ]
    empty = tmp_path / "empty_run"
    empty.mkdir()
    (empty / "config.yaml").write_text((run / "config.yaml").read_text())
    cases.append((["curve", str(empty), "--judge", str(judge)], "no step checkpoints"))
    cases.append((["curve", str(tiny_gan.parent.parent), "--judge", str(judge)], "held out no validation subjects"))
    dataset = read_manifest(prepared, "setting1", 64).dataset
    _, _, held = _validation(prepared)
    knows = random_recognizer(tmp_path / "knows.pt", record=TrainedOn(dataset, "setting1", 64, tuple(sorted(held))))
    cases.append((["curve", str(run), "--judge", str(knows)], "refusing the judge"))
    cases.append((["curve", str(run), "--judge", str(knows), "--external", str(knows)], "refusing the judge"))
    for argv, message in cases:
        assert cli([*argv, "--out", str(tmp_path / "out"), "--quiet"]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_curve_holds_judge_and_checkpoints_to_what_eval_does(val_run, tmp_path, capsys):
    """Once accepted by `curve` alone: a judge with no record (a bare state dict, or the record taken out), a step
    checkpoint with none, the run's own recognizer as judge, manifests that do not say whose people they are."""
    from frontalize.runs import checkpoint as ckpt
    from frontalize.runs.provenance import RECORD_KEY

    run, judge, prepared = val_run
    config = (run / "config.yaml").read_text()
    loss = next(line.split(":", 1)[1].strip() for line in config.splitlines() if line.strip().startswith("recognizer:"))
    unrecorded = tmp_path / "unrecorded_judge.pt"
    state = torch.load(judge, weights_only=True)
    del state[RECORD_KEY]
    ckpt.save(unrecorded, state)
    bare = tmp_path / "bare_judge.pth"
    torch.save(state["backbone"], bare)
    old_run = tmp_path / "old_run"
    shutil.copytree(run, old_run, ignore=shutil.ignore_patterns("curve"))
    for path in ckpt.list_checkpoints(old_run / "checkpoints"):
        state = ckpt.load(path)
        del state[RECORD_KEY]
        ckpt.save(path, state)
    old_prepared = tmp_path / "old_prepared"
    old_prepared.mkdir()
    for item in prepared.iterdir():
        if item.name != "manifests":
            (old_prepared / item.name).symlink_to(item)
    shutil.copytree(prepared / "manifests", old_prepared / "manifests")
    meta = old_prepared / "manifests" / "setting1_64.json"
    meta.write_text(json.dumps({k: v for k, v in json.loads(meta.read_text()).items() if k != "dataset"}))
    declared = ["--external", str(judge)]
    cases = [
        ([str(run), "--judge", str(unrecorded)],
         f"{unrecorded}: this recognizer checkpoint does not record what it was trained on"),
        ([str(run), "--judge", str(bare)], f"are taken when declared: --external {bare}"),
        ([str(old_run), "--judge", str(judge), *declared],
         f"{old_run / 'checkpoints' / 'step_00000001.pt'}: this generator checkpoint does not record what it was trained on"),
        ([str(run), "--judge", loss, "--external", loss],
         f"refusing the independent judge {loss}: it is the recognizer the generator {run / 'checkpoints'}"),
        ([str(run), "--judge", str(judge), *declared, "--prepared", str(old_prepared)],
         "prepared before frontalize recorded whose people these are"),
        ([str(run), "--judge", str(judge)], f"If it was trained elsewhere, on people these data do not test, declare it: "
                                             f"--external {judge}"),
    ]
    for argv, message in cases:
        assert cli(["curve", *argv, "--out", str(tmp_path / "out"), "--quiet"]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "out").exists()  # refused before anything was measured
    # the user's word for the old run's checkpoints (its folder) and the record-less judge: taken, and said so
    out = tmp_path / "declared"
    assert cli(["curve", str(old_run), "--judge", str(unrecorded), "--external", str(unrecorded), "--external",
                str(old_run), "--out", str(out), "--quiet", "--max-probes-per-yaw", "1"]) == 0
    assert json.loads((out / "curve.json").read_text())["judge"]["trained_on"] == (
        "external: no training record (unrecorded_judge.pt); external, user-declared (--external)")


def test_the_identity_report_names_whole_crop_ssim_rows():
    """``crop_ssim`` (TargetQuality's whole-crop SSIM) is its own figure, not the face-box SSIM of a view."""
    from frontalize.evaluation.report import quality_columns

    table = {"all": {"ssim": 0.5, "crop_ssim": 0.6, "ssim_warp": 0.4, "crop_ssim_warp": 0.7}}
    assert [(c, label) for c, label, _ in quality_columns(table)] == [
        ("ssim", "SSIM face"), ("crop_ssim", "SSIM whole crop"),
        ("ssim_warp", "SSIM face, warp only"), ("crop_ssim_warp", "SSIM whole crop, warp only")]
