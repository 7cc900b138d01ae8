"""`--check-identity`: dlib's face descriptor (the `judge` extra, which `make test` installs) on real photos."""
import re
import shutil
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from frontalize.bench.identity import real_photos
from frontalize.cli.main import main as cli
from frontalize.face.dlib_identity import SAME_PERSON, DlibJudge, distance


@pytest.fixture(scope="module")
def judge():
    return DlibJudge()


@pytest.fixture(scope="module")
def photos():
    found = real_photos()
    assert {"astronaut", "grace_hopper"} <= set(found), f"scikit-image / matplotlib no longer ship these photos: {found}"
    return found


def _descriptor(judge, rgb):
    boxes = judge.find_faces(rgb)  # dlib's own detector: the check below owes nothing to frontalize's alignment
    assert boxes, "dlib found no face"
    return judge.describe(rgb, boxes[0])


def test_a_photo_is_itself_and_not_someone_else(judge, photos):
    astronaut = np.asarray(Image.open(photos["astronaut"]).convert("RGB"))
    smaller = cv2.resize(astronaut, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    jpeg = cv2.imdecode(cv2.imencode(".jpg", astronaut[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])[1], cv2.IMREAD_COLOR)
    hopper = np.asarray(Image.open(photos["grace_hopper"]).convert("RGB"))
    mine = _descriptor(judge, astronaut)
    assert mine.shape == (128,)
    assert distance(mine, _descriptor(judge, astronaut.copy())) < 1e-6
    # the same photo saved as a JPEG, and at 80 % of its size (dlib's box moves a little): measured 0.07 and 0.10
    assert distance(mine, _descriptor(judge, np.ascontiguousarray(jpeg[..., ::-1]))) < 0.1
    assert distance(mine, _descriptor(judge, smaller)) < 0.15
    assert distance(mine, _descriptor(judge, hopper)) > SAME_PERSON


def _copy_photos(photos, folder):
    folder.mkdir()
    for name in ("astronaut", "cameraman", "grace_hopper"):
        shutil.copy(photos[name], folder / f"{name}{photos[name].suffix}")
    Image.new("RGB", (320, 240), (120, 120, 120)).save(folder / "wall.png")  # no face: a FAIL, not a distance
    return folder


def _printed_distances(text):
    return {m[1]: float(m[2]) for m in re.finditer(r"^identity (\w+)_frontal\.png: distance (\d\.\d+) to ", text, re.M)}


def test_check_identity_prints_each_distance_and_a_summary(judge, photos, tmp_path, capsys):
    from frontalize.data.images import read_rgb
    from frontalize.data.template import crop_face_box

    folder = _copy_photos(photos, tmp_path / "in")
    out = tmp_path / "out"
    assert cli(["infer", str(folder), "--warp-only", "--check-identity", "--out", str(out)]) == 1  # wall.png failed
    text = capsys.readouterr().out
    printed = _printed_distances(text)
    assert set(printed) == {"astronaut", "cameraman", "grace_hopper"}
    # each output is measured against its own photo: it is nearer to it than to the other person's photo
    for name, other in (("astronaut", "grace_hopper"), ("grace_hopper", "astronaut")):
        output = judge.describe(read_rgb(out / f"{name}_frontal.png"), crop_face_box(128))
        assert printed[name] < distance(output, _descriptor(judge, read_rgb(photos[other])))
    for name, d in printed.items():
        assert f"{name}_frontal.png: distance {d:.3f} to {folder / name}" in text
        assert f"{d:.3f} to {folder / name}{photos[name].suffix} ({'same person' if d < SAME_PERSON else 'not the same person'} by dlib's" in text
    share = np.mean([d < SAME_PERSON for d in printed.values()])
    summary = text.strip().splitlines()[-1]
    assert summary == (f"identity (dlib, independent of training): 3 faces, median distance "
                       f"{np.median(list(printed.values())):.3f}, {100 * share:.0f} % under {SAME_PERSON}")


def _matrix_onto_template(box, size=128):
    """The similarity taking a face box found in a photo onto the template's face box of a ``size`` crop."""
    from frontalize.data.template import crop_face_box

    x0, y0, x1, y1 = crop_face_box(size)
    scale = (x1 - x0) / (box[2] - box[0])
    shift = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) - scale * np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    return np.array([[scale, 0, shift[0]], [0, scale, shift[1]]])


def test_faces_dlib_cannot_describe_are_counted_not_fatal(judge, photos, tmp_path, monkeypatch):
    from frontalize.data.align import warp
    from frontalize.data.images import read_photo, write_png
    from frontalize.inference.identity import check_identity

    faces = []
    for name in ("astronaut", "grace_hopper"):
        rgb = read_photo(photos[name])
        m = _matrix_onto_template(judge.find_faces(rgb)[0])
        write_png(tmp_path / f"{name}.png", warp(rgb, m, 128))  # its own crop stands in for an output
        faces.append((photos[name], m, tmp_path / f"{name}.png"))
    off = faces[0][1].copy()
    off[:, 2] += 2000  # a face box far outside the photo
    faces.append((photos["astronaut"], off, tmp_path / "astronaut.png"))
    describe = DlibJudge.describe

    def fussy(self, rgb, box):
        if rgb.shape[:2] == (600, 512):  # Grace Hopper's photo
            raise RuntimeError("Unsupported image type")
        return describe(self, rgb, box)

    monkeypatch.setattr(DlibJudge, "describe", fussy)
    lines = []
    summary = check_identity(judge, faces, 128, on_face=lambda r: lines.append(r.line()))
    assert lines[1] == "identity grace_hopper.png: not described (Unsupported image type)"
    assert lines[2] == "identity astronaut.png: not described (the face's box lies mostly outside the photo)"
    assert lines[0].startswith("identity astronaut.png: distance ")
    assert (summary.faces, summary.described, summary.undescribed) == (3, 1, 2)
    assert summary.line().endswith("1 faces, median distance " + lines[0].split()[3] + ", 100 % under 0.6; 2 faces "
                                   "dlib could not describe")


@pytest.mark.parametrize("missing", ["dlib", "face_recognition_models"])
def test_absent_packages_name_the_pip_command(photos, tmp_path, capsys, monkeypatch, missing):
    import importlib.util

    if missing == "dlib":
        monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib raises ImportError
    else:
        find_spec = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else find_spec(name, *a))
    out = tmp_path / "out"
    assert cli(["infer", str(photos["astronaut"]), "--warp-only", "--check-identity", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pip install 'frontalize[judge]'" in err and "dlib-bin" in err and "face_recognition_models" in err
    assert not out.exists()  # refused before any work


def test_real_identity_benchmark_measures_outputs_against_their_photos(judge, photos, monkeypatch, tmp_path):
    from frontalize.bench.identity import real_identity_distance

    monkeypatch.chdir(tmp_path)  # no runs/ here: the generator part says so
    result = real_identity_distance(quick=True)
    assert set(result["warp_only"]) == set(photos)
    assert result["real_identity_distance"] == round(float(np.median(list(result["warp_only"].values()))), 4)
    assert len(result["different_people"]) == len(photos) * (len(photos) - 1) // 2
    # two different people are further apart than a face and its own frontalization
    assert min(result["different_people"].values()) > max(result["warp_only"].values())
    assert "no checkpoint" in result["generator"]
