"""`frontalize infer` says what it knows: what the model learned from, preparation's alignment, outputs the right
way round."""
from pathlib import Path

import numpy as np
import pytest

from frontalize.cli.main import main as cli
from frontalize.data.images import read_photo, read_rgb
from frontalize.runs import checkpoint as ckpt
from frontalize.runs.provenance import RECORD_KEY, TrainedOn

FRONTAL_SIDE_LIT = "001_01_01_051_10.png"  # flash 10 stands at +45 degrees: the face's two halves differ


def _generator_checkpoint(path: Path, trained_on: TrainedOn | None) -> Path:
    """A random 64-px generator in the layout training writes, with or without its training record."""
    from frontalize.config import load_config, to_yaml
    from frontalize.models.factory import build_generator

    cfg = load_config("1_4", cpu=True, overrides=["data.size=64", "model.width=0.125", "data.protocol=session01"])
    state = {"generator": build_generator(cfg).state_dict(), "config": to_yaml(cfg)}
    if trained_on is not None:
        state[RECORD_KEY] = trained_on.to_json()
    ckpt.save(path, state)
    return path


def _photo(tree: Path, name: str) -> Path:
    return next(tree.rglob(name))


SYNTHPIE = TrainedOn("SynthPIE v3 seed 0", "session01", 64, tuple(range(1, 197)), tuple(range(197, 201)), "0123abcd")
MULTIPIE = TrainedOn("Multi-PIE", "setting1", 64, tuple(range(1, 101)))


def test_first_line_names_what_the_checkpoint_was_trained_on(tiny_synthpie, tmp_path, capsys):
    photo = str(_photo(tiny_synthpie, FRONTAL_SIDE_LIT))
    synthetic = _generator_checkpoint(tmp_path / "synthpie.pt", SYNTHPIE)
    assert cli(["infer", photo, "--checkpoint", str(synthetic), "--out", str(tmp_path / "a")]) == 0
    out, err = capsys.readouterr()
    first = out.splitlines()[0]
    assert str(synthetic) in first and "SynthPIE v3 seed 0" in first and "session01" in first and "64 px" in first
    assert "196 subjects (1-196)" in first
    assert err.count("synthetic faces") == 1 and "--warp-only" in err  # warned once, up front

    real = _generator_checkpoint(tmp_path / "multipie.pt", MULTIPIE)
    assert cli(["infer", photo, "--checkpoint", str(real), "--out", str(tmp_path / "b")]) == 0
    out, err = capsys.readouterr()
    assert "Multi-PIE, setting1 training split" in out.splitlines()[0] and "synthetic" not in err

    old = _generator_checkpoint(tmp_path / "old.pt", None)
    assert cli(["infer", photo, "--checkpoint", str(old), "--out", str(tmp_path / "c")]) == 0
    out, err = capsys.readouterr()
    first = out.splitlines()[0]
    assert str(old) in first and "session01" in first and "64 px" in first and "training data not recorded" in first
    assert "synthetic" not in err


def test_unreadable_training_record_is_a_clear_error(tiny_synthpie, tmp_path, capsys):
    path = _generator_checkpoint(tmp_path / "g.pt", None)
    state = ckpt.load(path)
    state[RECORD_KEY] = "{not json"
    ckpt.save(path, state)
    photo = str(_photo(tiny_synthpie, FRONTAL_SIDE_LIT))
    assert cli(["infer", photo, "--checkpoint", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "training record is unreadable" in capsys.readouterr().err


@pytest.mark.parametrize("camera, name", [("05_1", "001_01_01_051_07.png"), ("19_0", "001_01_01_190_04.png")])
def test_photos_are_aligned_as_preparation_aligns_that_camera(tiny_synthpie, tmp_path, camera, name):
    """Preparation with MTCNN's landmarks (as for real Multi-PIE) and infer see the same points, so their crops must
    agree to the pixel: the five-point fit for the frontal camera, the eye-mouth axis for the others."""
    from frontalize.data.align import frontal_transform, pose_transform, warp
    from frontalize.data.scan import scan
    from frontalize.inference.frontalizer import Frontalizer
    from frontalize.preparation.prep import ViewTask, process_view

    inv = scan(tiny_synthpie)
    view = next(v for v in inv.views if v.subject == 1 and v.recording == 1 and v.camera == camera)
    record = next(r for r in process_view(ViewTask(inv.data_dir, tmp_path, view, inv.flashes[view], 64, "mtcnn")).records
                  if r["source_path"].endswith(name))
    assert record["landmark_source"] == "mtcnn"
    prepared = read_rgb(tmp_path / record["crop_path"]).astype(np.float64)
    photo = inv.data_dir / record["source_path"]
    ours = Frontalizer(None, size=64).crops(photo)[0].crop.astype(np.float64)
    assert np.abs(ours - prepared).mean() < 0.5
    # the other alignment is visibly different, so the comparison above can tell them apart
    five = np.array(record["five"].split(), np.float64).reshape(5, 2)
    other = (pose_transform if camera == "05_1" else frontal_transform)(five, 64)
    assert np.abs(warp(read_photo(photo), other, 64) - prepared).mean() > 3.0


def test_warp_only_output_is_the_face_the_right_way_round(tiny_synthpie, prepared_tiny, tmp_path, capsys):
    """A frontal shot lit from one side, frontalized by the warp alone, must look like its own prepared crop: not its
    mirror image (the light would be on the other side) and not with red and blue swapped."""
    prepared, _ = prepared_tiny
    photo = _photo(tiny_synthpie, FRONTAL_SIDE_LIT)
    assert cli(["infer", str(photo), "--warp-only", "--size", "64", "--out", str(tmp_path / "o")]) == 0
    output = read_rgb(tmp_path / "o" / f"{photo.stem}_frontal.png").astype(np.float64)
    expected = read_rgb(next(prepared.rglob(FRONTAL_SIDE_LIT))).astype(np.float64)

    def distance(a):
        return np.abs(output - a).mean()

    assert distance(expected) < 0.25 * distance(expected[:, ::-1])
    assert distance(expected) < 0.5 * distance(expected[..., ::-1])
