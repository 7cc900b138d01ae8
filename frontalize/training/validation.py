"""Validation identities: choosing a checkpoint without looking at the test subjects.

The training loop's periodic identity check decides which checkpoint becomes ``best.pt``.  Run on the
protocol's test probes, that choice would be tuned on the very numbers the report then publishes.  So a
few training-split subjects are held out of GAN training instead: their profiles are the validation
probes, and the gallery is the frontal shot under the gallery flash (07 unless preparation chose another)
of every training-split subject, held out or not.
The subjects the generator did train on stay in the gallery as distractors on purpose: a generator that
overfits pulls unseen faces towards the identities it memorised, and then validation rank-1 falls.

With no subjects held out (``data.val_subjects=0``, the paper protocols), the check runs on a fixed
subsample of test probes for monitoring only, and no ``best.pt`` is chosen from it.
"""
from __future__ import annotations

from frontalize.data.multipie import FRONTAL_CAMERA


def hold_out_subjects(rows: list[dict], n: int) -> tuple[list[dict], set[int]]:
    """Rows with the last ``n`` training subjects moved to split ``val`` (out of every training set)."""
    train_ids = sorted({int(r["subject"]) for r in rows if r["split"] == "train"})
    if n <= 0:
        return rows, set()
    if n >= len(train_ids):
        raise ValueError(f"data.val_subjects={n} would leave no training subject (the split has {len(train_ids)})")
    held = set(train_ids[-n:])
    return [{**r, "split": "val"} if int(r["subject"]) in held else r for r in rows], held


def validation_rows(rows: list[dict], gallery_flash: int) -> list[dict]:
    """The validation protocol, shaped like a manifest's test split (roles gallery and probe).

    Gallery: per training-split or held-out subject and recording, the frontal shot under
    ``gallery_flash`` of the subject's earliest session.  Probes: every other image of the held-out subjects.
    """
    pool = [r for r in rows if r["split"] in ("train", "val")]
    gallery = {}
    for r in pool:
        if r["camera"] == FRONTAL_CAMERA and int(r["flash"]) == gallery_flash:
            key = (r["subject"], r["recording"])
            if key not in gallery or int(r["session"]) < int(gallery[key]["session"]):
                gallery[key] = r
    gallery_paths = {g["crop_path"] for g in gallery.values()}
    out = [{**g, "split": "test", "role": "gallery"} for g in gallery.values()]
    out += [{**r, "split": "test", "role": "probe"} for r in pool
            if r["split"] == "val" and r["crop_path"] not in gallery_paths and (r["subject"], r["recording"]) in gallery]
    return out
