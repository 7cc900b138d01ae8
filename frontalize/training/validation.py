"""Validation identities: choosing a checkpoint without looking at the test subjects.

The training loop's periodic identity check decides which checkpoint becomes ``best.pt``.  Run on the
protocol's test probes, that choice would be tuned on the very numbers the report then publishes.  So the
protocol's validation identities, the last ``data.val_subjects`` subjects of its training split
(``data.protocols.validation_subjects``, the one definition), are held out of GAN training instead: their
profiles are the validation probes (every one of them, not a subsample: a few points of rank-1 must be
resolvable), and the gallery follows the protocol's rule: per recording, the frontal shot under the gallery
flash (07 unless preparation chose another) of every training-split subject, held out or not; for setting2
each subject's one such shot from their earliest session.
The subjects the generator did train on stay in the gallery as distractors on purpose: a generator that
overfits pulls unseen faces towards the identities it memorised, and then validation rank-1 falls.
The recognizer that scores the check must not know the validation faces either: the shared recognizer's
recipe leaves them out of its training (``data.exclude_validation``), and the trainer refuses one whose
record says it saw them (``check_scorer``).

With no subjects held out (``data.val_subjects=0``, the paper protocols), the check runs on a fixed
subsample of test probes for monitoring only, and no ``best.pt`` is chosen from it.
"""
from __future__ import annotations

from pathlib import Path

from frontalize.data.multipie import FRONTAL_CAMERA
from frontalize.data.protocols import PROTOCOLS, validation_subjects
from frontalize.runs.provenance import Contaminated, TrainedOn, check_clean, subject_ranges


def hold_out_subjects(rows: list[dict], n: int) -> tuple[list[dict], set[int]]:
    """Rows with the protocol's ``n`` validation subjects moved to split ``val`` (out of every training set)."""
    try:
        held = set(validation_subjects({int(r["subject"]) for r in rows if r["split"] == "train"}, n))
    except ValueError as e:
        raise ValueError(f"data.val_subjects={n}: {e}") from None
    if not held:
        return rows, set()
    return [{**r, "split": "val"} if int(r["subject"]) in held else r for r in rows], held


def validation_rows(rows: list[dict], gallery_flash: int, protocol: str) -> list[dict]:
    """The validation protocol, shaped like a manifest's test split (roles gallery and probe).

    Gallery: per training-split or held-out subject (and recording, unless the protocol's gallery is one image
    per subject from the earliest session), the frontal shot under ``gallery_flash`` of the subject's earliest
    session.  Probes: every other image of the held-out subjects that has a gallery to be matched against.
    """
    one_per_subject = PROTOCOLS[protocol].gallery_from_earliest_session
    pool = [r for r in rows if r["split"] in ("train", "val")]

    def key(r):
        return r["subject"] if one_per_subject else (r["subject"], r["recording"])

    gallery = {}
    for r in pool:
        if r["camera"] == FRONTAL_CAMERA and int(r["flash"]) == gallery_flash and (not one_per_subject or int(r["recording"]) == 1):
            if key(r) not in gallery or int(r["session"]) < int(gallery[key(r)]["session"]):
                gallery[key(r)] = r
    gallery_paths = {g["crop_path"] for g in gallery.values()}
    out = [{**g, "split": "test", "role": "gallery"} for g in gallery.values()]
    out += [{**r, "split": "test", "role": "probe"} for r in pool
            if r["split"] == "val" and r["crop_path"] not in gallery_paths and key(r) in gallery]
    return out


def check_scorer(path: Path | str, record: TrainedOn, protocol: str, tested: set[int], validation: set[int],
                 dataset: str) -> None:
    """Refuse a recognizer for a GAN run's identity loss and checkpoint choice when it saw a validation subject
    (the check would score faces it knows) or a subject the protocol tests."""
    seen = record.overlap(validation, dataset)
    if seen:
        raise Contaminated(
            f"refusing the recognizer {path} as this run's identity loss and validation scorer: it trained on {len(seen)} "
            f"of the {len(validation)} validation subjects ({subject_ranges(seen)}) that choose best.pt "
            f"({record.describe()}). Train one without them (recognizer config data.exclude_validation={len(validation)}, "
            "as configs/recognizer_synthpie.yaml does), or hold out other subjects (data.val_subjects)."
        )
    # a recognizer trained elsewhere (its record cannot show whom it saw) is taken here as it always was: evaluation
    # is where a network must prove it, and the generator's record names this one (trainer.training_recognizers)
    check_clean("recognizer", path, record, protocol, tested, dataset, unproven_ok=True)
