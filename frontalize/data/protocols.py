"""The Multi-PIE evaluation protocols: which images, which subjects train, which image is the gallery.

| protocol  | images                                                    | train                    | gallery                          |
|-----------|-----------------------------------------------------------|--------------------------|----------------------------------|
| setting1  | session 01, neutral, 7 poses within +-45, 20 flashes      | first 100 of 249 subjects| 05_1 flash 07, per test subject  |
| session01 | session 01, both expressions, 15 cameras, 20 flashes      | first 200 of 249         | 05_1 flash 07, per expression    |
| setting2  | all sessions, neutral, 13 poses within +-90, 20 flashes   | first 200 of 337         | 05_1 flash 07, earliest session  |

Subject counts are Multi-PIE's; a dataset with another number of subjects
gets the same train fraction (rounded, at least one subject each side).
Probes are all test images except the gallery ones; the frontal camera's
other flashes stay in (they make the 0-degree column of the table).

A training-only tree (``make_split(..., training_only=True)``: a photo-pairs tree, data/pairs_tree.py, whose people
no protocol may test) puts every subject in the training split and none in the test split: it has no gallery and no
probes, and evaluation answers that it has nothing to test.
"""
from __future__ import annotations

from dataclasses import dataclass

from frontalize.data.multipie import (
    CAMERAS, FRONTAL_CAMERA, FRONTAL_FLASH, HEAD_HEIGHT_CAMERAS, MULTIPIE_SESSION01_SUBJECTS, MULTIPIE_SUBJECTS,
    RECORDINGS,
)


@dataclass(frozen=True)
class Protocol:
    name: str
    sessions: tuple[int, ...] | None  # None: all sessions
    neutral_only: bool
    cameras: tuple[str, ...]
    train_subjects: int  # on real Multi-PIE
    real_subjects: int  # the pool the train count is taken from, on real Multi-PIE
    gallery_from_earliest_session: bool = False
    min_sessions: int = 1

    def includes(self, session: int, recording: int, camera: str) -> bool:
        if self.sessions is not None and session not in self.sessions:
            return False
        if self.neutral_only and RECORDINGS[session][recording] != "neutral":
            return False
        return camera in self.cameras


PROTOCOLS: dict[str, Protocol] = {
    "setting1": Protocol(
        "setting1", (1,), True, tuple(c.name for c in CAMERAS if c.elevation == 0 and abs(c.yaw) <= 45),
        train_subjects=100, real_subjects=MULTIPIE_SESSION01_SUBJECTS,
    ),
    "session01": Protocol(
        "session01", (1,), False, tuple(c.name for c in CAMERAS),
        train_subjects=200, real_subjects=MULTIPIE_SESSION01_SUBJECTS,
    ),
    "setting2": Protocol(
        "setting2", None, True, HEAD_HEIGHT_CAMERAS,
        train_subjects=200, real_subjects=MULTIPIE_SUBJECTS, gallery_from_earliest_session=True, min_sessions=2,
    ),
}


@dataclass(frozen=True)
class Split:
    protocol: Protocol
    train: frozenset[int]
    test: frozenset[int]
    scaled: bool  # the subject count differs from Multi-PIE's, so the counts were scaled
    gallery_session: dict  # test subject -> session its gallery image comes from
    training_only: bool = False  # every subject trains (a tree whose people no protocol tests)

    def split_of(self, subject: int) -> str | None:
        return "train" if subject in self.train else "test" if subject in self.test else None

    def is_gallery(self, subject: int, session: int, recording: int, camera: str, flash: int, gallery_flash: int) -> bool:
        """One gallery image per test subject (per expression for session01)."""
        if subject not in self.test or camera != FRONTAL_CAMERA or flash != gallery_flash:
            return False
        if self.protocol.gallery_from_earliest_session:  # its first recording, which is neutral in every session
            return session == self.gallery_session[subject] and recording == 1
        return True

    def describe(self) -> str:
        p = self.protocol
        n = len(self.train) + len(self.test)
        if self.training_only:
            return f"{p.name}: {len(self.train)} train / 0 test subjects (a training-only tree: every subject trains)"
        note = (
            f" (scaled from Multi-PIE's {p.train_subjects}/{p.real_subjects - p.train_subjects} to {n} subjects)"
            if self.scaled
            else ""
        )
        return f"{p.name}: {len(self.train)} train / {len(self.test)} test subjects{note}"


def train_count(protocol: Protocol, n_subjects: int) -> tuple[int, bool]:
    if n_subjects == protocol.real_subjects:
        return protocol.train_subjects, False
    n = round(n_subjects * protocol.train_subjects / protocol.real_subjects)
    return min(max(n, 1), n_subjects - 1), True


def make_split(protocol: Protocol, subjects_by_session: dict[int, list[int]], training_only: bool = False) -> Split:
    """Subjects in id order; the first ones train.  ``subjects_by_session``: session -> subject ids.
    ``training_only``: every subject trains and the test split is empty (a tree whose people no protocol tests)."""
    sessions = protocol.sessions or tuple(sorted(subjects_by_session))
    pool = sorted({s for ses in sessions for s in subjects_by_session.get(ses, [])})
    if training_only:
        if not pool:
            raise ValueError(f"{protocol.name} needs at least 1 subject, found none")
        return Split(protocol, frozenset(pool), frozenset(), False, {}, training_only=True)
    if len(pool) < 2:
        raise ValueError(f"{protocol.name} needs at least 2 subjects, found {len(pool)}")
    n_train, scaled = train_count(protocol, len(pool))
    train, test = pool[:n_train], pool[n_train:]
    earliest = {s: min(ses for ses in sessions if s in subjects_by_session.get(ses, [])) for s in test}
    return Split(protocol, frozenset(train), frozenset(test), scaled, earliest)


DEFAULT_GALLERY_FLASH = FRONTAL_FLASH


def validation_subjects(train_subjects, n: int) -> frozenset[int]:
    """The validation identities of a protocol: the last ``n`` subjects (by id) of its training split.

    The one definition both sides use: the GAN trainer holds them out of its training and chooses ``best.pt``
    on them (training/validation.py), and the recognizers that score that choice never train on them
    (recognition/train.py, ``data.exclude_validation``).
    """
    ids = sorted({int(s) for s in train_subjects})
    if n <= 0:
        return frozenset()
    if n >= len(ids):
        raise ValueError(f"{n} validation subjects would leave no training subject (the training split has {len(ids)})")
    return frozenset(ids[-n:])
