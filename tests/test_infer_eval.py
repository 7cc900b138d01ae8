"""`frontalize infer` on what users have, and `frontalize eval`'s report."""
import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from frontalize.cli.main import main as cli
from conftest import random_recognizer


@pytest.fixture(scope="module")
def photos(tiny_synthpie, tmp_path_factory):
    """A folder of what users have: good photos in odd formats, and bad files."""
    d = tmp_path_factory.mktemp("photos") / "in"
    d.mkdir()
    face = cv2.cvtColor(cv2.imread(str(next(tiny_synthpie.rglob("001_01_01_051_07.png")))), cv2.COLOR_BGR2RGB)
    profile = cv2.cvtColor(cv2.imread(str(next(tiny_synthpie.rglob("002_01_01_190_10.png")))), cv2.COLOR_BGR2RGB)
    Image.fromarray(face).save(d / "plain.png")
    Image.fromarray(profile).save(d / "profile.jpg", quality=92)
    Image.fromarray(face).convert("L").save(d / "gray.jpg")
    rgba = np.dstack([face, np.full(face.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0
    Image.fromarray(rgba, "RGBA").save(d / "alpha.png")
    cv2.imwrite(str(d / "sixteen.png"), (cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257))
    Image.fromarray(face).convert("CMYK").save(d / "cmyk.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated; viewers turn it 90 degrees clockwise
    Image.fromarray(face).rotate(90, expand=True).save(d / "rotated.jpg", exif=exif)
    big = cv2.resize(face, (face.shape[1] * 12, face.shape[0] * 12), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(big).save(d / "huge.jpg", quality=85)  # 3840x2880
    good = sorted(p.name for p in d.iterdir())
    (d / "truncated.png").write_bytes((d / "plain.png").read_bytes()[:300])
    (d / "notes.jpg").write_text("this is not a picture")
    Image.new("RGB", (1, 1)).save(d / "dot.png")
    Image.new("RGB", (320, 240), (120, 120, 120)).save(d / "wall.png")  # nothing to find
    return d, good


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_infer_handles_what_users_have(tiny_gan, photos, tmp_path, capsys):
    folder, good = photos
    before = _digest(folder)
    out = tmp_path / "out"
    code = cli(["infer", str(folder), "--checkpoint", str(tiny_gan), "--out", str(out), "--side-by-side"])
    text = capsys.readouterr().out
    assert code == 1  # some files failed
    assert _digest(folder) == before  # inputs untouched
    for name in good:
        assert f"ok   {folder / name}" in text, name
        assert (out / f"{Path(name).stem}_frontal.png").exists()
        side = cv2.imread(str(out / f"{Path(name).stem}_side.png"))
        assert side.shape == (64, 128, 3)
    expect_fail = {"truncated.png": "unreadable or truncated", "notes.jpg": "not an image", "dot.png": "too small",
                   "wall.png": "no face found"}
    for name, why in expect_fail.items():
        assert f"FAIL {folder / name}: " in text and why in text.split(f"FAIL {folder / name}: ")[1].splitlines()[0], name
    assert f"{len(good)} of {len(good) + 4} files frontalized" in text and "model loading" in text


def test_infer_exit_codes_and_refusals(tiny_gan, photos, tmp_path, capsys, monkeypatch):
    folder, _ = photos
    assert cli(["infer", str(folder / "plain.png"), "--checkpoint", str(tiny_gan), "--out", str(tmp_path / "o")]) == 0
    assert cli(["infer", str(folder / "plain.png"), "--checkpoint", str(tiny_gan), "--out", str(folder)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert cli(["infer", str(tmp_path / "nothing*.jpg"), "--checkpoint", str(tiny_gan)]) == 2
    monkeypatch.chdir(tmp_path)  # no runs/ here: no checkpoint to find
    assert cli(["infer", str(folder / "plain.png"), "--out", str(tmp_path / "o2")]) == 2
    assert "python scripts/train_gan.py --setting 1_4" in capsys.readouterr().err
    outs = list((tmp_path / "o").iterdir())
    assert [p.name for p in outs] == ["plain_frontal.png"]


def test_infer_default_output_folder_is_new_and_beside_the_inputs(tiny_gan, photos, capsys):
    folder, _ = photos
    assert cli(["infer", str(folder / "plain.png"), "--checkpoint", str(tiny_gan)]) == 0
    first = folder.parent / "frontalized"
    assert (first / "plain_frontal.png").exists()
    assert cli(["infer", str(folder / "plain.png"), "--checkpoint", str(tiny_gan)]) == 0
    assert (folder.parent / "frontalized-2" / "plain_frontal.png").exists()


def _crops(out: Path, paths: list[str]):
    """Crops as a [-1, 1] batch, read here without the library's loaders."""
    import torch

    return torch.stack([torch.from_numpy(cv2.cvtColor(cv2.imread(str(out / p)), cv2.COLOR_BGR2RGB)).permute(2, 0, 1).float()
                        / 127.5 - 1 for p in paths])


def _hand_rank1(recognizer, rows: list[dict], out: Path, probes: list[dict], transform=lambda x: x) -> float:
    """Rank-1 by hand: one gallery (setting1 has one recording), nearest gallery embedding by cosine."""
    gallery = [r for r in rows if r["role"] == "gallery"]
    g = recognizer.embed(_crops(out, [r["crop_path"] for r in gallery]))
    p = recognizer.embed(transform(_crops(out, [r["crop_path"] for r in probes])))
    predicted = [gallery[i]["subject"] for i in (p @ g.T).argmax(1).tolist()]
    return float(np.mean([a == r["subject"] for a, r in zip(predicted, probes)]))


def _column(yaw: int) -> str:
    """The table column of a head-height yaw, as the report labels it."""
    return f"{yaw:+d}" if yaw else "0"


def _uint8(t) -> np.ndarray:
    return ((t.permute(1, 2, 0).detach().numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8)


def test_eval_writes_the_report(tiny_gan, prepared_tiny, tmp_path, capsys):
    import torch
    from skimage.metrics import peak_signal_noise_ratio

    from frontalize.data.template import region_boxes
    from frontalize.inference.frontalizer import load_generator
    from frontalize.recognition.recognizer import Recognizer

    out, _ = prepared_tiny
    rec = random_recognizer(tmp_path / "recognizer.pt", seed=5)
    report = tmp_path / "report"
    # the same recognizer as the "all-pose competitor": its raw rank-1 must repeat the raw row exactly
    assert cli(["eval", "--checkpoint", str(tiny_gan), "--recognizer", str(rec), "--protocol", "setting1",
                "--prepared", str(out), "--out", str(report), "--competitor-recognizer", str(rec), "--quiet",
                "--external", str(rec)]) == 0
    for name in ("rank1_setting1.md", "rank1_setting1.csv", "rank1_setting1.png", "samples_setting1.png", "report_setting1.json"):
        assert (report / name).exists(), name
    with open(out / "manifests" / "setting1_64.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    probes = [r for r in rows if r["role"] == "probe"]
    table = json.loads((report / "report_setting1.json").read_text())["table"]
    recognizer, (generator, _) = Recognizer.load(rec), load_generator(tiny_gan, torch.device("cpu"))
    x0, y0, x1, y1 = region_boxes(64)["face"]
    for yaw in (-45, -15, 0, 15, 45):
        row = table[_column(yaw)]
        at_yaw = [r for r in probes if int(r["yaw"]) == yaw]
        assert row["probes"] == len(at_yaw)
        assert row["raw"] == pytest.approx(_hand_rank1(recognizer, rows, out, at_yaw))
        with torch.no_grad():
            front = _hand_rank1(recognizer, rows, out, at_yaw, lambda x: generator(x)[-1])
            assert row["frontalized"] == pytest.approx(front)
        # image quality: over the probes that have a frontal target other than themselves (at 0 degrees: none)
        measured = [r for r in at_yaw if r["target_path"] and r["target_path"] != r["crop_path"]]
        assert row["probes_with_target"] == len(measured)
        assert row["self_target_probes"] == sum(r["target_path"] == r["crop_path"] for r in at_yaw)
        if yaw == 0:
            assert row["self_target_probes"] == len(at_yaw) > 0 and "psnr" not in row and "ssim" not in row
        else:
            with torch.no_grad():
                outputs = generator(_crops(out, [r["crop_path"] for r in measured]))[-1]
            targets = _crops(out, [r["target_path"] for r in measured])
            psnr = np.mean([peak_signal_noise_ratio(_uint8(t)[y0:y1, x0:x1], _uint8(o)[y0:y1, x0:x1], data_range=255)
                            for o, t in zip(outputs, targets)])
            assert row["psnr"] == pytest.approx(psnr, rel=1e-6)
        assert row["raw_all_pose"] == row["raw"]
        assert 0.0 <= row["fused"] <= 1.0
    assert table["all"]["probes"] == len(probes)
    assert table["all"]["raw"] == pytest.approx(np.mean([table[_column(y)]["raw"] * table[_column(y)]["probes"]
                                                          for y in (-45, -15, 0, 15, 45)]) * 5 / len(probes))
    md = (report / "rank1_setting1.md").read_text()
    assert "rank-1 frontalized (%)" in md and "rank-1 raw+frontalized fusion (%)" in md and "all-pose recognizer" in md
    assert "| yaw | -45° | -15° | 0° | +15° | +45° | all |" in md
    assert f"| rank-1 raw (%) | {100 * table['-45']['raw']:.1f} |" in md
    assert f"| probes with a target | {table['-45']['probes_with_target']} |" in md
    assert f"leave out {table['0']['self_target_probes']} probes ({table['0']['self_target_probes']} at 0°)" in md
    doc = json.loads((report / "report_setting1.json").read_text())
    assert doc["self_target_probes"] == table["0"]["self_target_probes"] and doc["columns"][-1] == "all"
    assert [n["role"] for n in doc["networks"]] == ["generator", "shared recognizer", "all-pose competitor"]
    assert doc["networks"][0]["record"]["protocol"] == "setting1" and doc["networks"][0]["record"]["size"] == 64
    chart = cv2.imread(str(report / "rank1_setting1.png"))
    assert chart is not None and chart.shape[0] > 100


def test_periodic_check_is_the_report_on_a_fixed_probe_subsample(tiny_gan, prepared_tiny, tmp_path):
    import torch

    from frontalize.data.manifest import read_manifest
    from frontalize.evaluation.identification import subsample_probes
    from frontalize.inference.frontalizer import load_generator
    from frontalize.recognition.recognizer import Recognizer
    from frontalize.training.trainer import periodic_identity_check

    out, _ = prepared_tiny
    rec = random_recognizer(tmp_path / "recognizer.pt", seed=6)
    generator, cfg = load_generator(tiny_gan, torch.device("cpu"))
    generator.train()
    recognizer = Recognizer.load(rec)
    manifest = read_manifest(out, "setting1", 64)
    rows = manifest.rows

    def check():
        return periodic_identity_check(generator, recognizer, rows, out, 64, torch.device("cpu"), manifest.gallery_flash,
                                       "setting1", per_yaw=3)

    table = check()
    assert generator.training  # the check leaves the generator as it found it
    probes = {yaw: sum(r["role"] == "probe" and int(r["yaw"]) == yaw for r in rows) for yaw in (-45, -15, 0, 15, 45)}
    assert {k: v["probes"] for k, v in table.items() if k != "all"} == {_column(y): min(3, n) for y, n in probes.items()}
    assert table["all"]["probes"] == sum(min(3, n) for n in probes.values())
    chosen = subsample_probes([r for r in rows if r["role"] == "probe"], 3)
    generator.eval()
    with torch.no_grad():
        for yaw in probes:
            at_yaw = [r for r in chosen if int(r["yaw"]) == yaw]
            assert table[_column(yaw)]["raw"] == pytest.approx(_hand_rank1(recognizer, rows, out, at_yaw))
            assert table[_column(yaw)]["frontalized"] == pytest.approx(
                _hand_rank1(recognizer, rows, out, at_yaw, lambda x: generator(x)[-1]))
    generator.train()
    assert check() == table  # the subsample is fixed


def test_fusion_decides_where_each_view_alone_is_wrong():
    import numpy as np
    import torch

    from frontalize.evaluation.identification import fuse_embeddings, rank1_hits

    gallery = torch.eye(3)  # subjects 10, 20, 30
    ids = np.array([10, 20, 30])
    norm = torch.nn.functional.normalize
    raw = norm(torch.tensor([[0.60, 0.62, 0.0]]), dim=1)  # leans to 20 by a hair
    front = norm(torch.tensor([[0.60, 0.0, 0.62]]), dim=1)  # leans to 30 by a hair
    truth = np.array([10])
    assert not rank1_hits(raw, gallery, ids, truth)[0] and not rank1_hits(front, gallery, ids, truth)[0]
    fused = fuse_embeddings(raw, front)
    assert rank1_hits(fused, gallery, ids, truth)[0]
    assert torch.allclose(fused.norm(dim=1), torch.ones(1))
    assert torch.allclose(fuse_embeddings(raw, raw), raw)  # fusing a view with itself changes nothing


def test_eval_defaults_to_the_recognizer_the_generator_trained_with(tmp_path):
    from frontalize.config import Config
    from frontalize.pipeline.evaluate import training_recognizer

    cfg = Config()
    rec = tmp_path / "000-shared" / "recognizer.pt"
    rec.parent.mkdir()
    rec.write_bytes(b"x")
    cfg.loss.identity_features, cfg.loss.recognizer = "recognizer", str(rec)
    assert training_recognizer(cfg) == rec
    cfg.loss.recognizer = str(tmp_path / "gone.pt")  # moved away since: fall back to the newest
    assert training_recognizer(cfg) is None
    cfg.loss.identity_features, cfg.loss.recognizer = "vgg", str(rec)  # trained without one
    assert training_recognizer(cfg) is None


def test_written_files_get_the_umask_mode_not_owner_only(tmp_path):
    import os
    import stat

    import torch

    from frontalize.runs import checkpoint
    from frontalize.utils.io import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.png", b"x")
        checkpoint.save(tmp_path / "c.pt", {"w": torch.zeros(1)})
        os.umask(0o077)  # the umask at the time of writing decides, as for any other file
        atomic_write_bytes(tmp_path / "private.png", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.png").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "c.pt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.png").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "c.pt", "private.png"]  # no temporary files left


def test_eval_adds_warp_only_judge_and_baseline_rows(tiny_gan, prepared_tiny, tmp_path):
    """Two recognizers swapped between shared and judge, the same checkpoint as baseline: the judge's rows of one
    report must be the plain rows of the other, and the baseline's the frontalized ones."""
    out, _ = prepared_tiny
    rec = random_recognizer(tmp_path / "recognizer.pt", seed=7)
    other = random_recognizer(tmp_path / "other.pt", seed=8)
    report = tmp_path / "report"
    common = ["--checkpoint", str(tiny_gan), "--baseline-checkpoint", str(tiny_gan), "--protocol", "setting1",
              "--prepared", str(out), "--quiet", "--external", str(rec), "--external", str(other)]
    assert cli(["eval", *common, "--recognizer", str(rec), "--judge-recognizer", str(other), "--out", str(report)]) == 0
    assert cli(["eval", *common, "--recognizer", str(other), "--judge-recognizer", str(rec),
                "--out", str(tmp_path / "swapped")]) == 0
    table = json.loads((report / "report_setting1.json").read_text())["table"]
    swapped = json.loads((tmp_path / "swapped" / "report_setting1.json").read_text())["table"]
    for yaw, row in table.items():
        for view in ("raw", "frontalized", "fused", "warp", "warp_fused", "baseline"):
            assert row[f"{view}_judge"] == swapped[yaw][view] and swapped[yaw][f"{view}_judge"] == row[view], (yaw, view)
        assert row["baseline"] == row["frontalized"]
        if yaw != "0":  # at 0 degrees every probe is its own target: no image-quality figure there
            assert row["ssim_baseline"] == row["ssim"]
            assert -1 <= row["ssim_warp"] <= 1 and row["ssim_warp"] != row["ssim"]
    md = (report / "rank1_setting1.md").read_text()
    for label in ("rank-1 warp only (%)", "rank-1 raw, independent judge (%)", "rank-1 frontalized, independent judge (%)",
                  "rank-1 frontalized by the baseline generator (%)", "SSIM face, warp only"):
        assert f"| {label} |" in md, label
    samples = cv2.imread(str(report / "samples_setting1.png"))
    assert samples.shape[1] == 5 * 64  # input | frontalized | baseline | warp | target


def test_infer_warp_only_needs_no_checkpoint(photos, tmp_path, monkeypatch, capsys):
    folder, _ = photos
    monkeypatch.chdir(tmp_path)  # no runs/ here
    assert cli(["infer", str(folder / "profile.jpg"), "--warp-only", "--out", str(tmp_path / "w"), "--side-by-side"]) == 0
    assert "warp only" in capsys.readouterr().out
    side = cv2.imread(str(tmp_path / "w" / "profile_side.png"))
    assert side.shape == (128, 256, 3)
    assert cli(["infer", str(folder / "profile.jpg"), "--warp-only", "--checkpoint", "g.pt", "--out", str(tmp_path / "x")]) == 2
