"""Multi-PIE's four sessions in SynthPIE: who came to which session, and how they looked that day.

Attendance.  Multi-PIE recorded 337 people in up to four sessions months apart: 249, 203, 230 and 239 per session,
129 in all four, ids 001-346 with gaps (frontalize.data.multipie).  ``draw_attendance`` draws a roster with exactly
those counts from a fixed seed (the same for every SynthPIE seed, as Multi-PIE's roster is one fact): session 01
holds ids 1-249, so it is `small`'s population; 129 of them come to every session, the other 120 to some or none
of the later ones; the 88 newcomers join in session 02, 03 or 04 (ids 250-346 in the order they joined, with 9
ids never used) and come back to each later session with a fixed probability.

A later session's look.  The face's structure is the person's (skull, jaw, eyes, brows, nose, mouth, ears, skin
detail); what months change is drawn per (seed, subject, session) from its own random stream: hair grown, cut or
restyled, facial hair grown, shaved or trimmed (hair.later_hair), a little weight in the cheeks, skin a little
tanned or paler.  Clothing is drawn per image (photo.py), in every session.  Session 01 is the subject's own
parameters, unchanged: its images are `small`'s.  None of it depends on anything but the person and the day, so it
carries no identity of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from frontalize.data.multipie import (
    MULTIPIE_ALL_SESSIONS_SUBJECTS, MULTIPIE_LAST_SUBJECT_ID, MULTIPIE_SESSION_SUBJECTS, MULTIPIE_SUBJECTS,
)
from frontalize.synthpie import hair as hairs
from frontalize.synthpie import palette
from frontalize.synthpie.head import SubjectParams

ATTENDANCE_SEED = 2004  # Multi-PIE's first session was recorded in October 2004
FIRST_SESSION = 1
# newcomers: the later session they join in (02, 03, 04), and how likely they come to each session after it
NEWCOMER_JOINS = (0.40, 0.35, 0.25)
NEWCOMER_RETURNS = 0.75

CHEEK_CHANGE = 0.012  # sd of the change of cheek fullness (head units): a little fuller or thinner
TONE_CHANGE = 0.04  # sd of the change of skin tone on palette.SKIN_RAMP: a little tanned or paler (median ΔE 1)


def draw_attendance(seed: int = ATTENDANCE_SEED) -> dict[int, tuple[int, ...]]:
    """Session -> the subject ids recorded in it, with Multi-PIE's counts (module docstring)."""
    rng = np.random.default_rng(seed)
    later = [s for s in MULTIPIE_SESSION_SUBJECTS if s != FIRST_SESSION]
    first = np.arange(1, MULTIPIE_SESSION_SUBJECTS[FIRST_SESSION] + 1)
    loyal = set(rng.choice(first, MULTIPIE_ALL_SESSIONS_SUBJECTS, replace=False).tolist())
    rest = [int(s) for s in first if s not in loyal]
    # newcomers: ids in the order they joined; the last id is Multi-PIE's last
    n_new = MULTIPIE_SUBJECTS - len(first)
    spare = np.arange(len(first) + 1, MULTIPIE_LAST_SUBJECT_ID)
    ids = sorted(rng.choice(spare, n_new - 1, replace=False).tolist()) + [MULTIPIE_LAST_SUBJECT_ID]
    joins = np.sort(rng.choice(later, n_new, p=NEWCOMER_JOINS))
    attend: dict[int, set[int]] = {s: set() for s in later}
    for subject, join in zip(ids, joins):
        attend[int(join)].add(subject)
        for s in later:
            if s > join and rng.random() < NEWCOMER_RETURNS:
                attend[s].add(subject)
    # session 01's other people fill each later session up to its count, none of them in every one
    for s in later:
        need = MULTIPIE_SESSION_SUBJECTS[s] - len(loyal) - len(attend[s])
        everywhere_else = [x for x in rest if all(x in attend[o] for o in later if o != s)]
        pool = [x for x in rest if x not in everywhere_else]
        if not 0 <= need <= len(pool):
            raise ValueError(f"attendance seed {seed}: session {s} cannot be filled ({need} from {len(pool)})")
        attend[s] |= set(rng.choice(pool, need, replace=False).tolist())
    roster = {FIRST_SESSION: tuple(int(x) for x in first)}
    roster.update({s: tuple(sorted(loyal | attend[s])) for s in later})
    return roster


@dataclass(frozen=True)
class SessionLook:
    """A subject as they came to one session: the parameters the head is built from."""

    params: SubjectParams

    def summary(self) -> dict:
        """What can change between sessions, for the tree's sessions.json."""
        p, h = self.params, self.params.hair
        return {
            "hair_style": h.style, "hair_volume": round(h.volume, 4), "hair_length": round(h.length, 4),
            "facial_hair": h.facial, "facial_length": round(h.facial_length, 4),
            "cheek_fullness": round(p.cheek_fullness, 4), "skin_tone": round(p.skin_tone, 4),
        }


def session_look(base: SubjectParams, seed: int, subject: int, session: int) -> SessionLook:
    """How ``subject`` (drawn as ``base``) looked at ``session``: session 01 is ``base`` itself."""
    if session == FIRST_SESSION:
        return SessionLook(base)
    rng = np.random.default_rng([seed, subject, session, 3])
    hair = hairs.later_hair(base.hair, rng, base.male)
    cheek = float(np.clip(base.cheek_fullness + rng.normal(0, CHEEK_CHANGE), 0.0, 0.1))
    tone = float(np.clip(base.skin_tone + rng.normal(0, TONE_CHANGE), 0.0, 1.0))
    # the same undertone, more or less tanned: scale the skin by how the ramp changes between the two tones
    ratio = palette.skin_colour(tone, 0.0) / palette.skin_colour(base.skin_tone, 0.0)
    skin = tuple(float(c) for c in np.clip(np.asarray(base.skin) * ratio, 0, 1))
    return SessionLook(replace(base, hair=hair, cheek_fullness=cheek, skin_tone=tone, skin=skin))
