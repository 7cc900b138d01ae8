"""A photo-pairs tree: Multi-PIE's layout rendered from single photographs (``frontalize pairs``, frontalize/pairs/).

What such a tree holds beyond the layout, written down once for its writer and its readers (the scan, preparation):

  ROOT/pairs.json   the marker: ``MARKER_FORMAT`` and ``MARKER_VERSION``, that the tree was rendered from photographs,
                    every input photo (path, bytes, sha256, image size) with the subject it became or why it was
                    skipped, and ``every_subject_trains`` (true: no protocol tests on these people; preparation puts
                    them all in the training split)
  <view stem>_unknown.png   beside a camera view's images (one per subject, session, recording and camera, as the
                    landmark sidecar), 8-bit grey: where the view shows what its photograph did not, filled:
                    ``UNSEEN_HEAD`` (255) a point of the head the photo did not show (turned away from its camera,
                    hidden, beyond its edge), ``UNSEEN_SCENE`` (128) background the photo's head hid or that lay beyond
                    its edge; 0 what the photo shows.  ``mask > 0`` is all that is unknown

The people are named by the photos that became subjects (``dataset_name``): "photo pairs" and a short hash of those
photos' contents in subject order.  Networks record that name (runs/provenance.py), so subject 001 of a pairs tree is
never taken for subject 001 of SynthPIE or Multi-PIE.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

MARKER = "pairs.json"
MARKER_FORMAT = "frontalize-photo-pairs"
MARKER_VERSION = 1
UNKNOWN_SUFFIX = "_unknown.png"
UNSEEN_HEAD = 255
UNSEEN_SCENE = 128
DATASET_PREFIX = "photo pairs"


def read_marker(root: Path) -> dict | None:
    """The marker of a pairs tree rooted at ``root`` (the folder holding ``data/``); None where there is none.
    A file of that name in another format is an error, not a tree of ours."""
    path = Path(root) / MARKER
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    if doc.get("format") != MARKER_FORMAT:
        raise ValueError(f"{path} is not a frontalize photo-pairs marker (format {doc.get('format')!r})")
    return doc


def photo_list_hash(sha256s: list[str]) -> str:
    """A short name for the people of a tree: the subjects' photos' contents, in subject order."""
    return hashlib.sha256("\n".join(sha256s).encode()).hexdigest()[:12]


def dataset_name(marker: dict) -> str:
    """Who a pairs tree's people are: "photo pairs <hash of the subjects' photos>"."""
    subjects = sorted((p for p in marker["photos"] if p.get("subject") is not None), key=lambda p: p["subject"])
    return f"{DATASET_PREFIX} {photo_list_hash([p['sha256'] for p in subjects])}"


def every_subject_trains(marker: dict | None) -> bool:
    """Whether the tree asks that no protocol test on its people (a pairs tree: they are all training subjects)."""
    return bool(marker and marker.get("every_subject_trains"))
