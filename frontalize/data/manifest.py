"""Protocol manifests: the one place that knows where they live, what a row holds and how to read them.

``data_prep/multipie.py`` writes one manifest per protocol and crop size,
``PREPARED/manifests/<protocol>_<size>.csv`` (a plain CSV a person can open), and beside it
``<protocol>_<size>.json`` with what holds for every row: the protocol, the crop size, the gallery
flash chosen at preparation (07 by default; some papers use 06) and the dataset, named for who its people
are ("SynthPIE v2 seed 0", "Multi-PIE", "photo pairs 1a2b3c4d5e6f"): networks record it, and evaluation compares
subjects only within it.
Manifests prepared before the dataset was recorded say nothing of their people: evaluation refuses them
(``require_known_dataset``) with the command that prepares them again.

A row (all values are strings, as CSV gives them):
  crop_path        the aligned crop, relative to the prepared folder
  subject, session, recording, expression, camera, yaw, flash
  split            train | test
  role             train | gallery | probe
  target_path      the frontal crop with the same subject, session, recording and flash ('' if absent)
  landmark_source  sidecar | mtcnn | mtcnn_view | camera_prior (see preparation/prep.py)
  source_path      the original image, relative to the Multi-PIE data folder
  landmarks        the five landmarks (MTCNN order) in crop pixels, "x y" ten times: what the frontal warp fits
  pose             the estimated head pose, "yaw pitch roll" in degrees (geometry/pose.py)
  alpha_path       the crop of the view's subject mask (8-bit grey, 255 = subject), cropped as crop_path; '' where
                   the data has none (real Multi-PIE; manifests prepared before it was kept read as '')
"""
from __future__ import annotations

import csv
import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frontalize.data.multipie import FRONTAL_FLASH
from frontalize.utils.io import atomic_open, atomic_write_text

MANIFEST_FIELDS = [
    "crop_path", "subject", "session", "recording", "expression", "camera", "yaw", "flash", "split", "role",
    "target_path", "landmark_source", "source_path", "landmarks", "pose", "alpha_path",
]
# columns added after manifests were first written: an older manifest's rows read them as ''
LATER_FIELDS = ("alpha_path",)


class ManifestMissing(FileNotFoundError):
    pass


def format_landmarks(points: np.ndarray) -> str:
    return " ".join(f"{v:.2f}" for v in np.asarray(points).ravel())


def row_landmarks(row: dict) -> np.ndarray:
    """The row's five landmarks in crop pixels, (5, 2)."""
    text = row.get("landmarks") or ""
    if not text:
        raise ValueError(f"{row['crop_path']}: no landmarks in the manifest; prepare the data again with this version "
                         "(python data_prep/multipie.py ...) to store them")
    return np.array([float(v) for v in text.split()]).reshape(-1, 2)


def manifest_path(prepared: Path, protocol: str, size: int) -> Path:
    return Path(prepared) / "manifests" / f"{protocol}_{size}.csv"


def _meta_path(prepared: Path, protocol: str, size: int) -> Path:
    return manifest_path(prepared, protocol, size).with_suffix(".json")


UNKNOWN_DATASET = "unknown dataset (prepared before frontalize recorded it)"


class UnknownDataset(ValueError):
    """Manifests that do not say whose people they are: no network's subject ids can be checked against them."""


def known_dataset(name: str | None) -> bool:
    """Whether ``name`` says whose people these are (not the placeholder of manifests prepared before it was kept)."""
    return bool(name) and not name.startswith(UNKNOWN_DATASET.split(" (")[0])


@dataclass
class Manifest:
    protocol: str
    size: int
    rows: list[dict]
    gallery_flash: int
    dataset: str = UNKNOWN_DATASET
    path: Path | None = None

    def subjects(self, split: str) -> set[int]:
        return {int(r["subject"]) for r in self.rows if r["split"] == split}

    def require_known_dataset(self) -> str:
        """The dataset whose people these are; ``UnknownDataset``, saying how to prepare again, when not recorded."""
        if known_dataset(self.dataset):
            return self.dataset
        prepared = self.path.parent.parent if self.path else Path("PREPARED")
        raise UnknownDataset(
            f"{self.path or self.protocol}: prepared before frontalize recorded whose people these are, so no network's "
            f"training record can be checked against its test subjects. Prepare it again: python data_prep/multipie.py "
            f"--root ROOT --out {prepared} --size {self.size} (ROOT: the Multi-PIE or SynthPIE tree it came from)"
        )


def read_manifest(prepared: Path, protocol: str, size: int) -> Manifest:
    path = manifest_path(prepared, protocol, size)
    if not path.exists():
        raise ManifestMissing(
            f"{path} not found: prepare the data first (python data_prep/multipie.py --out {prepared} --size {size})"
        )
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for name in LATER_FIELDS:
            row.setdefault(name, "")
    meta = _meta_path(prepared, protocol, size)
    doc = json.loads(meta.read_text()) if meta.exists() else {}
    if "gallery_flash" in doc:
        gallery_flash = int(doc["gallery_flash"])
    else:  # prepared before the gallery flash was recorded: every gallery row shows it
        flashes = {int(r["flash"]) for r in rows if r["role"] == "gallery"}
        gallery_flash = flashes.pop() if len(flashes) == 1 else FRONTAL_FLASH
    return Manifest(protocol, size, rows, gallery_flash, doc.get("dataset", UNKNOWN_DATASET), path)


def tested_subjects(prepared: Path, protocols: list[str], size: int) -> set[int]:
    """Every subject that some protocol tests on (a recognizer must never train on them)."""
    return set().union(*(read_manifest(prepared, p, size).subjects("test") for p in protocols))


class ManifestWriter:
    """Writes several protocols' manifests in one pass; each appears, with its description, only when complete."""

    def __init__(self, prepared: Path, protocols: list[str], size: int, gallery_flash: int, dataset: str = UNKNOWN_DATASET):
        self.prepared, self.protocols, self.size, self.gallery_flash = Path(prepared), protocols, size, gallery_flash
        self.dataset = dataset
        self._stack = ExitStack()
        self._writers: dict[str, csv.DictWriter] = {}

    def __enter__(self) -> "ManifestWriter":
        for protocol in self.protocols:
            f = self._stack.enter_context(atomic_open(manifest_path(self.prepared, protocol, self.size), "w"))
            self._writers[protocol] = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
            self._writers[protocol].writeheader()
        return self

    def write(self, protocol: str, row: dict) -> None:
        self._writers[protocol].writerow(row)

    def __exit__(self, *exc) -> None:
        self._stack.__exit__(*exc)
        if exc[0] is None:
            for protocol in self.protocols:
                meta = {"protocol": protocol, "size": self.size, "gallery_flash": self.gallery_flash, "dataset": self.dataset}
                atomic_write_text(_meta_path(self.prepared, protocol, self.size), json.dumps(meta, indent=1))
