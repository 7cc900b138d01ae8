"""Face-identity datasets for the recognizer: prepared Multi-PIE/SynthPIE manifests, image folders, RecordIO.

Every dataset yields (image, label): an ArcFace-aligned 112x112 RGB tensor in [-1, 1] and an int class.

insightface RecordIO (``train.rec`` + ``train.idx``), read without MXNet:
  train.idx   text lines "<key>\\t<byte offset into train.rec>"
  train.rec   records, each: uint32 magic 0xced7230a, uint32 lrecord (length = lrecord & (2^29 - 1),
              continuation flag = lrecord >> 29), then `length` bytes padded to a multiple of 4.
              A record's bytes: IRHeader = struct '<IfQQ' (flag, label, id, id2), then `flag` float32
              labels when flag > 0, then the encoded image (JPEG or PNG).
  In insightface's datasets record 0 is a header whose labels hold the index range of the images
  (flag > 0); its images start at key 1.  Records with flag > 0 that carry no image are skipped.
"""
from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import Dataset

from frontalize.data.images import IMAGE_SUFFIXES, ImageProblem, read_rgb, to_tensor
from frontalize.data.template import ARCFACE_SIZE, TEMPLATE_ZOOM
from frontalize.utils.io import atomic_open

MAGIC = 0xCED7230A
IRHEADER = struct.Struct("<IfQQ")


def template_crop_to_arcface(rgb: np.ndarray) -> np.ndarray:
    """Numpy twin of recognizer.template_to_arcface: the central window, resized to 112."""
    resized = int(round(ARCFACE_SIZE / TEMPLATE_ZOOM))
    off = (resized - ARCFACE_SIZE) // 2
    r = cv2.resize(rgb, (resized, resized), interpolation=cv2.INTER_AREA if rgb.shape[0] > resized else cv2.INTER_LINEAR)
    return r[off : off + ARCFACE_SIZE, off : off + ARCFACE_SIZE]


class _Augmented(Dataset):
    """Items are (index, augmentation seed) pairs (data/sampling.StepBatches), or plain indices for no augmentation.

    The seed is handed to the augmentation before each image, so what a sample looks like never depends
    on which loader worker drew it: two runs with one seed train on the same pictures.
    """

    augment = None

    def __getitem__(self, item):
        index, seed = item if isinstance(item, tuple) else (item, None)
        rgb, label = self._load(index)
        if self.augment is not None and seed is not None:
            self.augment.set_random_seed(seed)
            rgb = self.augment(image=rgb)["image"]
        return to_tensor(rgb), label

    def _load(self, index: int) -> tuple[np.ndarray, int]:
        raise NotImplementedError


def at_most_per_subject(rows: list[dict], n: int, seed: int) -> list[dict]:
    """At most ``n`` rows of each subject, drawn at random (a fixed draw for a seed), in the rows' order."""
    if n < 1:
        raise ValueError(f"data.per_subject must be at least 1, not {n}")
    by_subject: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_subject.setdefault(int(r["subject"]), []).append(i)
    rng = np.random.default_rng(seed)
    keep = set()
    for subject in sorted(by_subject):
        idx = by_subject[subject]
        keep.update(idx if len(idx) <= n else rng.choice(idx, n, replace=False).tolist())
    return [r for i, r in enumerate(rows) if i in keep]


class ManifestFaces(_Augmented):
    """Rows of a prepared protocol manifest (template crops), optionally limited to |yaw| <= max_yaw and to at most
    ``per_subject`` images of each identity (a seeded draw: Setting 2's sessions give some people five times as many
    images as others, and a capped set trains in fewer steps)."""

    def __init__(self, prepared: Path, manifest_rows: list[dict], split: str = "train", max_yaw: int | None = 30,
                 roles: tuple[str, ...] | None = None, augment=None, exclude_subjects: set[int] = frozenset(),
                 per_subject: int | None = None, seed: int = 0):
        self.prepared = Path(prepared)
        rows = [r for r in manifest_rows if r["split"] == split and int(r["subject"]) not in exclude_subjects
                and (max_yaw is None or abs(int(r["yaw"])) <= max_yaw) and (roles is None or r["role"] in roles)]
        if not rows:
            raise ValueError(f"no {split} rows within +-{max_yaw} degrees in the manifest")
        if per_subject is not None:
            rows = at_most_per_subject(rows, per_subject, seed)
        self.rows = rows
        subjects = sorted({int(r["subject"]) for r in rows})
        self.class_of = {s: i for i, s in enumerate(subjects)}
        self.labels = [self.class_of[int(r["subject"])] for r in rows]
        self.augment = augment

    @property
    def num_classes(self) -> int:
        return len(self.class_of)

    def __len__(self):
        return len(self.rows)

    def _load(self, index):
        return template_crop_to_arcface(read_rgb(self.prepared / self.rows[index]["crop_path"])), self.labels[index]


class ImageFolderFaces(_Augmented):
    """``root/<identity>/<image>`` with ArcFace-aligned faces (resized to 112 when they are not)."""

    def __init__(self, root: Path, augment=None):
        root = Path(root)
        identities = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        self.items = [(p, i) for i, d in enumerate(identities) for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        if not self.items:
            raise ValueError(f"{root}: no images in <identity>/<image> folders")
        self.num_classes = len(identities)
        self.labels = [label for _, label in self.items]
        self.augment = augment

    def __len__(self):
        return len(self.items)

    def _load(self, index):
        path, label = self.items[index]
        return _arcface_size(read_rgb(path)), label


class SyntheticFaces(_Augmented):
    """Random 112x112 pictures with random labels: the whole trainer runs without data (smoke tests, throughput).

    Image k is drawn from a generator seeded by (seed, k), so it is the same in every worker and every run.
    """

    def __init__(self, n_images: int, n_classes: int, seed: int = 0):
        if n_images < 1 or n_classes < 2:
            raise ValueError("synthetic data needs at least one image and two classes")
        self.n, self.num_classes, self.seed = n_images, n_classes, seed
        self.labels = [int(c) for c in np.random.default_rng(seed).integers(n_classes, size=n_images)]

    def __len__(self):
        return self.n

    def _load(self, index):
        rgb = np.random.default_rng([self.seed, index]).integers(0, 256, (ARCFACE_SIZE, ARCFACE_SIZE, 3), dtype=np.uint8)
        return rgb, self.labels[index]


def _read_record(f, offset: int) -> bytes:
    f.seek(offset)
    magic, lrecord = struct.unpack("<II", f.read(8))
    if magic != MAGIC:
        raise ValueError(f"bad RecordIO magic at offset {offset}: {magic:#x}")
    return f.read(lrecord & ((1 << 29) - 1))


def unpack_record(data: bytes) -> tuple[tuple, bytes]:
    flag, label, id1, id2 = IRHEADER.unpack_from(data)
    pos = IRHEADER.size
    labels = (label,)
    if flag > 0:
        labels = struct.unpack_from(f"<{flag}f", data, pos)
        pos += 4 * flag
    return labels, data[pos:]


class RecordIOFaces(_Augmented):
    def __init__(self, rec: Path, idx: Path | None = None, augment=None):
        self.rec = Path(rec)
        idx = Path(idx) if idx else self.rec.with_suffix(".idx")
        if not self.rec.exists() or not idx.exists():
            raise FileNotFoundError(f"RecordIO needs both {self.rec} and {idx}")
        offsets = []
        with open(idx) as f:
            for line in f:
                if line.strip():
                    key, off = line.split("\t")
                    offsets.append((int(key), int(off)))
        self.items = []
        with open(self.rec, "rb") as f:
            for key, off in sorted(offsets):
                labels, payload = unpack_record(_read_record(f, off))
                if payload:  # header records carry index ranges, not images
                    self.items.append((off, int(labels[0])))
        classes = sorted({label for _, label in self.items})
        self.class_of = {c: i for i, c in enumerate(classes)}
        self.num_classes = len(classes)
        self.labels = [self.class_of[label] for _, label in self.items]
        self.augment = augment
        self._file = None

    def __len__(self):
        return len(self.items)

    def _load(self, index):
        if self._file is None:  # opened per worker process
            self._file = open(self.rec, "rb")
        off, _ = self.items[index]
        _, payload = unpack_record(_read_record(self._file, off))
        img = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ImageProblem(f"{self.rec}: undecodable image at offset {off}")
        return _arcface_size(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)), self.labels[index]


def _arcface_size(rgb: np.ndarray) -> np.ndarray:
    """Image-folder and RecordIO faces are ArcFace-aligned already; only their size may differ."""
    if rgb.shape[:2] != (ARCFACE_SIZE, ARCFACE_SIZE):
        rgb = cv2.resize(rgb, (ARCFACE_SIZE, ARCFACE_SIZE), interpolation=cv2.INTER_AREA)
    return rgb


def write_recordio(rec: Path, idx: Path, items: list[tuple[np.ndarray, int]]) -> None:
    """Write RGB images with labels in insightface's layout (header record 0, images from key 1)."""
    with atomic_open(rec) as f, atomic_open(idx, "w") as g:
        header = IRHEADER.pack(2, 0.0, 0, 0) + struct.pack("<2f", 1.0, float(len(items) + 1))
        for key, payload in [(0, header)] + [
            (k + 1, IRHEADER.pack(0, float(label), k + 1, 0) + cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))[1].tobytes())
            for k, (img, label) in enumerate(items)
        ]:
            g.write(f"{key}\t{f.tell()}\n")
            f.write(struct.pack("<II", MAGIC, len(payload)))
            f.write(payload + b"\0" * (-len(payload) % 4))


def default_augment(degrade: float = 0.0):
    """Mirror, light and small geometric jitter; with probability ``degrade`` also blur or downscale.

    Degradation teaches the recognizer that a softer image of a face is still that face (as
    low-resolution augmentation does for web-face recognizers); the shared recognizer reads generator
    outputs, which are softer than photographs, in the identity loss and in the report.
    """
    import albumentations as A
    import cv2

    ops = [
        A.HorizontalFlip(p=0.5),
        A.RandomBrightnessContrast(0.25, 0.25, p=0.7),
        A.Affine(scale=(0.93, 1.07), translate_percent=(-0.04, 0.04), rotate=(-6, 6), p=0.7),
    ]
    if degrade > 0:
        ops.append(A.OneOf([A.GaussianBlur(blur_limit=(3, 9), p=1.0),
                            A.Downscale(scale_range=(0.25, 0.6), p=1.0,  # area down, linear up: soft, not blocky
                                        interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR})],
                           p=degrade))
    return A.Compose(ops)
