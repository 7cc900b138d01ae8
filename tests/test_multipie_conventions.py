"""Pin the real CMU Multi-PIE conventions: cameras, yaws, naming, recordings."""
from pathlib import Path

import pytest

from frontalize.data import multipie as mp


def test_fifteen_cameras_with_the_published_yaws():
    head_height = {
        "11_0": -90, "12_0": -75, "09_0": -60, "08_0": -45, "13_0": -30, "14_0": -15, "05_1": 0,
        "05_0": 15, "04_1": 30, "19_0": 45, "20_0": 60, "01_0": 75, "24_0": 90,
    }
    assert len(mp.CAMERAS) == 15
    assert {c.name: c.yaw for c in mp.CAMERAS if c.elevation == 0} == head_height
    assert {c.name for c in mp.CAMERAS if c.elevation > 0} == {"08_1", "19_1"}
    assert mp.FRONTAL_CAMERA == "05_1" and mp.CAMERA_BY_NAME["05_1"].yaw == 0


def test_flashes_and_recordings():
    assert mp.FLASHES == tuple(range(20)) and mp.NO_FLASH_SHOTS == (0, 19) and mp.FRONTAL_FLASH == 7
    assert mp.RECORDINGS[1] == {1: "neutral", 2: "smile"}
    assert mp.RECORDINGS[2] == {1: "neutral", 2: "surprise", 3: "squint"}
    assert mp.RECORDINGS[3] == {1: "neutral", 2: "smile", 3: "disgust"}
    assert mp.RECORDINGS[4] == {1: "neutral", 2: "neutral", 3: "scream"}


def test_real_file_naming_round_trips():
    shot = mp.ShotId(subject=1, session=1, recording=1, camera="05_1", flash=7)
    assert shot.filename == "001_01_01_051_07.png"
    assert shot.relpath == Path("data/session01/multiview/001/01/05_1/001_01_01_051_07.png")
    assert mp.parse_filename("001_01_01_051_07.png") == shot
    profile = mp.parse_relpath(Path("/x/data/session03/multiview/246/02/24_0/246_03_02_240_19.png"))
    assert (profile.subject, profile.session, profile.recording, profile.camera, profile.flash, profile.yaw) == (
        246, 3, 2, "24_0", 19, 90)
    assert profile.frontal_target() == mp.ShotId(246, 3, 2, "05_1", 19)


@pytest.mark.parametrize(
    "name",
    ["001_01_01_051_07.jpg", "1_01_01_051_07.png", "001_01_01_052_07.png", "001_01_03_051_07.png", "001_01_01_051_20.png"],
)
def test_bad_names_are_rejected(name):
    with pytest.raises(ValueError):
        mp.parse_filename(name)


def test_folders_must_agree_with_the_name():
    with pytest.raises(ValueError, match="folders do not match"):
        mp.parse_relpath(Path("data/session01/multiview/001/01/14_0/001_01_01_051_07.png"))
