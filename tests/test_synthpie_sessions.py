"""SynthPIE across Multi-PIE's four sessions: the attendance, every neutral recording, what months change and what
stays, session 01 identical to `small`, determinism, and the setting2 manifests a multi-session tree prepares into."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from frontalize.data.manifest import read_manifest
from frontalize.data.multipie import (
    FRONTAL_CAMERA, FRONTAL_FLASH, HEAD_HEIGHT_CAMERAS, MULTIPIE_ALL_SESSIONS_SUBJECTS, MULTIPIE_LAST_SUBJECT_ID,
    MULTIPIE_SESSION01_SUBJECTS, MULTIPIE_SESSION_SUBJECTS, MULTIPIE_SUBJECTS, RECORDINGS, ShotId,
)
from frontalize.data.scan import scan
from frontalize.synthpie.generate import (
    PRESETS, Preset, generate, landmark_path, read_attendance, read_sidecar, render_unit, subject_look, subject_params,
)
from frontalize.synthpie.head import Head, SubjectParams, surface_points
from frontalize.synthpie.sessions import draw_attendance

SESSIONS = PRESETS["sessions"]
TINY = PRESETS["tiny_sessions"]
# what a later session may change; every other parameter is the face's structure (or skin detail) and stays
CHANGES = {"hair", "cheek_fullness", "skin_tone", "skin"}
STRUCTURE = [f.name for f in fields(SubjectParams) if f.name not in CHANGES]


def _digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in (".png", ".json") and p.parent != root}


def _earliest(preset: Preset, subject: int) -> int:
    return min(s for s in preset.sessions if subject in preset.attendees(s))


def test_sessions_preset_has_multipie_attendance():
    counts = {s: len(SESSIONS.attendees(s)) for s in SESSIONS.sessions}
    assert counts == MULTIPIE_SESSION_SUBJECTS == {1: 249, 2: 203, 3: 230, 4: 239}
    ids = SESSIONS.subject_ids()
    assert len(ids) == SESSIONS.subjects == MULTIPIE_SUBJECTS and ids[-1] == MULTIPIE_LAST_SUBJECT_ID
    gaps = sorted(set(range(1, ids[-1] + 1)) - set(ids))
    assert len(gaps) == MULTIPIE_LAST_SUBJECT_ID - MULTIPIE_SUBJECTS and min(gaps) > MULTIPIE_SESSION01_SUBJECTS
    # session 01 is `small`'s population; the others came only to later sessions, ids in the order they joined
    assert SESSIONS.attendees(1) == tuple(range(1, PRESETS["small"].subjects + 1))
    joined = [_earliest(SESSIONS, s) for s in ids if s > MULTIPIE_SESSION01_SUBJECTS]
    assert joined == sorted(joined) and set(joined) == {2, 3, 4}
    everywhere = set.intersection(*(set(SESSIONS.attendees(s)) for s in SESSIONS.sessions))
    assert len(everywhere) == MULTIPIE_ALL_SESSIONS_SUBJECTS
    patterns = Counter(tuple(s for s in SESSIONS.sessions if i in SESSIONS.attendees(s)) for i in ids)
    assert patterns[(1,)] > 0 and len(patterns) >= 10  # some never came back, many skipped a session
    assert draw_attendance() == {s: SESSIONS.attendees(s) for s in SESSIONS.sessions}  # a fixed draw


def test_sessions_preset_renders_every_neutral_recording_at_head_height():
    for s in SESSIONS.sessions:
        assert SESSIONS.recordings_of(s) == tuple(r for r, e in RECORDINGS[s].items() if e == "neutral")
    assert SESSIONS.recordings_of(4) == (1, 2)  # session 04 has two neutral recordings
    assert SESSIONS.cameras == HEAD_HEIGHT_CAMERAS and FRONTAL_FLASH in SESSIONS.flashes
    visits = sum(len(SESSIONS.recordings_of(s)) * len(SESSIONS.attendees(s)) for s in SESSIONS.sessions)
    assert SESSIONS.n_images == visits * len(SESSIONS.cameras) * len(SESSIONS.flashes)


def test_preset_attendance_is_checked_and_first_subjects_keep_their_sessions():
    with pytest.raises(ValueError, match="one entry per session"):
        replace(TINY, attendance=TINY.attendance[:2])
    with pytest.raises(ValueError, match="attendance names"):
        replace(TINY, subjects=5)
    first = SESSIONS.first_subjects(300)
    assert first.subject_ids() == SESSIONS.subject_ids()[:300]
    assert all(set(first.attendees(s)) <= set(SESSIONS.attendees(s)) for s in SESSIONS.sessions)
    assert first.attendees(1) == SESSIONS.attendees(1)


def test_session01_of_sessions_is_small_byte_for_byte(tmp_path):
    """A session-01 shot of `sessions` is the same file as `small`'s; a later session of the same person is not."""
    subjects = (1, 180)
    for subject in subjects:
        render_unit(tmp_path / "sessions", SESSIONS, 0, subject, 1, 1)
        render_unit(tmp_path / "small", PRESETS["small"], 0, subject, 1, 1)
    ours, small = _digest(tmp_path / "sessions"), _digest(tmp_path / "small")
    assert len(ours) == len(subjects) * len(SESSIONS.cameras) * (len(SESSIONS.flashes) + 2)  # with the two sidecars
    assert {k: small[k] for k in ours} == ours
    later = next(s for s in SESSIONS.sessions[1:] if subjects[1] in SESSIONS.attendees(s))
    render_unit(tmp_path / "later", replace(SESSIONS, cameras=(FRONTAL_CAMERA,)), 0, subjects[1], later, 1)
    assert set(_digest(tmp_path / "later").values()).isdisjoint(ours.values())


def test_session01_look_is_the_subject_itself():
    for subject in (1, 57, 249):
        look = subject_look(0, subject, 1)
        assert look.params == subject_params(0, subject)


def _later_visits():
    return [(s, ses, subject_params(0, s), subject_look(0, s, ses)) for s, ses in SESSIONS.visits() if ses != 1]


def test_later_sessions_change_hair_cheeks_tone_never_the_structure():
    visits = _later_visits()
    n = len(visits)
    for _, _, base, look in visits:
        assert [getattr(look.params, f) for f in STRUCTURE] == [getattr(base, f) for f in STRUCTURE]
        h, h0 = look.params.hair, base.hair
        assert (h.hairline, h.temple_recess, h.widows_peak) == (h0.hairline, h0.temple_recess, h0.widows_peak)
        if h0.style in ("receding", "bald"):
            assert h.style == h0.style  # a hairline does not come back in months
        if not base.male:
            assert h.facial == "none"
    restyled = sum(look.params.hair.style != base.hair.style for *_, base, look in visits)
    men = [(base, look) for *_, base, look in visits if base.male]
    facial = sum(look.params.hair.facial != base.hair.facial for base, look in men)
    assert 0.05 * n < restyled < 0.4 * n
    assert 0.1 * len(men) < facial < 0.6 * len(men)
    for name, step in (("cheek_fullness", 0.005), ("skin_tone", 0.01)):
        moved = sum(abs(getattr(look.params, name) - getattr(base, name)) > step for *_, base, look in visits)
        assert 0.3 * n < moved < n, name
    tanned = [(base, look) for *_, base, look in visits if look.params.skin_tone > base.skin_tone + 0.01]
    assert all(np.mean(look.params.skin) < np.mean(base.skin) for base, look in tanned)  # darker, as the ramp goes


def _eyes_and_nose(head: Head) -> np.ndarray:
    inner = slice(27, 48)  # iBUG nose bridge, nose base, both eyes
    return surface_points(head, *[a[inner] for a in head.landmark_angles()])


def test_a_changed_look_keeps_the_face_and_changes_the_head():
    """The landmark layout stays, and the eyes and nose in 3D (fuller cheeks widen the face a little, a tenth of a
    millimetre there); the hair (and beard) changes the head's surface."""
    visits = [v for v in _later_visits() if v[3].params.hair.style != v[2].hair.style][:6]
    th, ph = np.meshgrid(np.linspace(-np.pi, np.pi, 48, endpoint=False), np.linspace(-1.3, 1.4, 24))
    for _, _, base, look in visits:
        before, after = Head(base), Head(look.params)
        for a, b in zip(before.landmark_angles(), after.landmark_angles()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(_eyes_and_nose(after), _eyes_and_nose(before), atol=3e-3)  # head units (9 cm)
        assert np.abs(after.radius(th, ph) - before.radius(th, ph)).max() > 0.02
    # another person's eyes and nose are elsewhere by far more
    others = [Head(subject_params(0, s)) for s in (1, 2, 3)]
    assert min(np.abs(_eyes_and_nose(a) - _eyes_and_nose(b)).max() for a in others for b in others if a is not b) > 0.02


def test_tiny_sessions_tree_holds_its_attendance_and_every_neutral_recording(tiny_sessions_synthpie):
    root = tiny_sessions_synthpie
    inv = scan(root)
    assert inv.sessions == list(TINY.sessions) and inv.images == TINY.n_images
    assert read_attendance(root) == {s: list(TINY.attendees(s)) for s in TINY.sessions}
    for s in TINY.sessions:
        assert inv.subjects(s) == list(TINY.attendees(s))
    recordings = {}
    for v in inv.views:
        recordings.setdefault((v.subject, v.session), set()).add(v.recording)
    assert recordings == {(s, ses): set(TINY.recordings_of(ses)) for s, ses in TINY.visits()}
    assert 6 not in inv.subjects() and 7 not in inv.subjects(1) and _earliest(TINY, 7) == 2
    # session 04's two neutral recordings: the same day's head, held twice
    poses = [read_sidecar(root / landmark_path(ShotId(5, 4, r, FRONTAL_CAMERA, 7)))["head_pose"] for r in (1, 2)]
    assert poses[0] != poses[1]
    looks = json.loads((root / "sessions.json").read_text())
    assert {s: sorted(v) for s, v in looks.items()} == {
        f"{s:03d}": [f"{ses:02d}" for ses in TINY.sessions if s in TINY.attendees(ses)] for s in TINY.subject_ids()}


def test_same_seed_same_bytes_in_later_sessions(tiny_sessions_synthpie, tmp_path):
    units = [(7, 2, 1), (5, 4, 2)]
    for seed in (0, 1):
        for unit in units:
            render_unit(tmp_path / str(seed), TINY, seed, *unit)
    again = _digest(tmp_path / "0")
    reference = {k: v for k, v in _digest(tiny_sessions_synthpie).items()
                 if any(f"/{s:03d}/{r:02d}/" in k and f"session{ses:02d}" in k for s, ses, r in units)}
    assert again == reference and len(again) == len(units) * len(TINY.cameras) * (len(TINY.flashes) + 2)  # two sidecars
    assert set(_digest(tmp_path / "1").values()).isdisjoint(again.values())


def test_a_finished_multi_session_tree_is_resumed_without_writing(tiny_sessions_synthpie, tmp_path):
    copy = tmp_path / "tree"
    shutil.copytree(tiny_sessions_synthpie, copy)
    victim = copy / ShotId(7, 4, 2, "24_0", 10).relpath
    victim.unlink()
    summary = generate(copy, "tiny_sessions", seed=0, workers=1, progress=False)
    assert summary["written"] == 1 and summary["images"] == TINY.n_images
    assert _digest(copy) == _digest(tiny_sessions_synthpie)


def test_preparation_writes_setting2_with_the_earliest_session_gallery(prepared_tiny_sessions):
    out, summary = prepared_tiny_sessions
    assert all("skipped" not in summary["manifests"][name] for name in ("setting1", "session01", "setting2"))
    rows = read_manifest(out, "setting2", 64).rows
    test = sorted({int(r["subject"]) for r in rows if r["split"] == "test"})
    assert 7 in test  # the subject who missed session 01
    gallery = {(int(r["subject"]), int(r["session"]), int(r["recording"]), r["camera"], int(r["flash"]))
               for r in rows if r["role"] == "gallery"}
    assert gallery == {(s, _earliest(TINY, s), 1, FRONTAL_CAMERA, FRONTAL_FLASH) for s in test}
    # probes from every neutral recording of every session, session 04's second one included; no smile
    probes = {(int(r["subject"]), int(r["session"]), int(r["recording"])) for r in rows if r["role"] == "probe"}
    assert probes == {(s, ses, r) for s in test for ses in TINY.sessions if s in TINY.attendees(ses)
                      for r in TINY.recordings_of(ses) if RECORDINGS[ses][r] == "neutral"}
    assert {r["expression"] for r in rows} == {"neutral"} and {r["camera"] for r in rows} == set(TINY.cameras)
    for name in ("setting1", "session01"):  # the one-session protocols take session 01 alone
        assert {int(r["session"]) for r in read_manifest(out, name, 64).rows} == {1}


def test_preview_shows_subjects_across_sessions(prepared_tiny_sessions, prepared_tiny):
    from frontalize.data.images import read_rgb

    out, _ = prepared_tiny_sessions
    picture = read_rgb(out / "preview_sessions_64.png")
    columns = sorted((s, r) for s in TINY.sessions for r in TINY.recordings_of(s))
    tile = 96
    assert picture.shape[:2] == (4 * (tile + 18), len(columns) * tile)  # four subjects, every visit a column

    def empty(row, column):  # the share of the tile left in the canvas's dark grey
        y, x = row * (tile + 18) + 18, columns.index(column) * tile
        return (picture[y : y + tile, x : x + tile] == 32).all(-1).mean()

    # the last row is subject 7, whose earliest session is 02: empty in session 01, a face in 02 and 04
    assert empty(3, (1, 1)) > 0.9 and max(empty(3, (2, 1)), empty(3, (4, 2))) < 0.1
    tiny_out, _ = prepared_tiny
    assert not (tiny_out / "preview_sessions_64.png").exists()  # one session: nothing to show


def test_generation_workers_are_single_threaded_even_after_the_parent_used_threads(tmp_path):
    """Workers forked after the parent used OpenCV's and OpenBLAS's thread pools run on one thread each and get
    their work done (the suite once hung in a child that set its own OpenCV count); the parent's counts return."""
    code = f"""
import ctypes, cv2, json, numpy as np
from multiprocessing import get_context
from frontalize.utils.threads import _openblas, single_threaded_forks
cv2.GaussianBlur(np.zeros((2000, 2000), np.float32), (9, 9), 3)  # OpenCV's pool starts
a = np.ones((600, 600)); a @ a  # so does OpenBLAS's
def counts(_):
    cv2.GaussianBlur(np.zeros((2000, 2000), np.float32), (9, 9), 3); a @ a
    return cv2.getNumThreads(), [get() for get in _openblas("get_num_threads")]
before = counts(0)
with single_threaded_forks():
    pool = get_context("fork").Pool(2)
print(json.dumps([before, pool.map(counts, range(2)), counts(0)]))
pool.close(); pool.join()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    before, workers, after = json.loads(done.stdout)
    assert after == before and before[0] > 1
    assert all(cv == 1 and set(blas) <= {1} for cv, blas in workers)
