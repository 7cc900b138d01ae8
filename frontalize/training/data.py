"""Data for GAN training: profile inputs with frontal targets, unpaired real frontal faces, subject-labelled images.

Every dataset here takes (index, augmentation seed) items from data/sampling.StepBatches, so the
batches of a step are a pure function of (seed, step).

Augmentation (albumentations): a horizontal mirror applied to the input and its target together (the
target is mirrored too, so the pair stays consistent; a mirrored profile is the opposite yaw), and a
random crop-and-resize that is the same for both.
"""
from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from frontalize.data.images import IMAGE_SUFFIXES, load_square, to_tensor
from frontalize.data.manifest import row_landmarks
from frontalize.data.multipie import CAMERA_BY_NAME, FRONTAL_CAMERA, FRONTAL_FLASH
from frontalize.face.mtcnn_error import perturb
from frontalize.geometry.pose import poses_of

NO_POSE = torch.zeros(12)  # the generator without geometry needs none


def paired_augment(size: int, crop_scale: float, mirror: bool, colour: float = 0.0, landmarks: bool = False) -> A.Compose | None:
    """The same random crop (and colour shift) on input and target; the mirror too, unless ``landmarks``: then
    the caller mirrors (the landmarks' left and right must swap) and the crop moves the input's landmarks."""
    ops = []
    if mirror and not landmarks:
        ops.append(A.HorizontalFlip(p=0.5))
    if crop_scale < 1.0:
        ops.append(A.RandomResizedCrop(size=(size, size), scale=(crop_scale**2, 1.0), ratio=(1.0, 1.0), p=1.0))
    if colour > 0:  # the same shift on input and target: more varied faces to learn from, pairs still consistent
        ops.append(A.OneOf([A.HueSaturationValue(12, 20, 0, p=1.0), A.RandomBrightnessContrast(0.2, 0.2, p=1.0)], p=colour))
    if not ops:
        return None
    keypoints = A.KeypointParams(format="xy", remove_invisible=False) if landmarks else None
    return A.Compose(ops, additional_targets={"target": "image"}, keypoint_params=keypoints)


# MTCNN's order names points by image side: a mirror image swaps the eyes, and the mouth corners
MIRRORED_FIVE = [1, 0, 2, 4, 3]


def mirror_with_landmarks(src: np.ndarray, tgt: np.ndarray, landmarks: np.ndarray) -> tuple:
    flipped = landmarks[MIRRORED_FIVE].copy()
    flipped[:, 0] = src.shape[1] - 1 - flipped[:, 0]
    return src[:, ::-1].copy(), tgt[:, ::-1].copy(), flipped


def augmented_single(path: Path, size: int, augment: A.Compose | None, seed: int) -> torch.Tensor:
    """One image, resized and augmented with its own seed (a target-less sample of the paired pipeline)."""
    img = load_square(path, size)
    if augment is not None:
        augment.set_random_seed(seed)
        img = augment(image=img, target=img)["image"]
    return to_tensor(img)


# what the generator is asked to produce for a profile (data.target):
#   same_flash     the frontal view under the input's flash (the notes' default: pose changes, light does not)
#   mean_flash     the mean over the frontal view's flashes (the notes' to-do)
#   gallery_flash  the frontal view under the gallery's flash (07 unless preparation chose another):
#                  frontalization and light normalisation at once, so every output aims at the one
#                  illumination the protocols' gallery uses
TARGETS = ("same_flash", "mean_flash", "gallery_flash")


# where each input's pose comes from (data.landmark_noise):
#   none   the manifest's landmarks as they are (SynthPIE's exact ones; the named settings)
#   mtcnn  SynthPIE's exact landmarks moved by a draw of MTCNN's measured error at the row's camera
#          (face/mtcnn_error.py) before the pose is fitted, so training meets the landmarks `frontalize infer`
#          gives; rows whose landmarks already came from MTCNN (real Multi-PIE) or from the camera prior keep theirs
LANDMARK_NOISE = ("none", "mtcnn")
NOISE_STREAM = 0x6D74636E  # the landmark noise's own random stream beside the mirror's, from the same sample seed


def _recording_key(row: dict) -> tuple[str, str, str]:
    return row["subject"], row["session"], row["recording"]


class ProfilePairs(Dataset):
    """Training rows of a protocol that have a frontal target: (input, target) in [-1, 1]."""

    def __init__(self, prepared: Path, rows: list[dict], size: int, augment: A.Compose | None,
                 target: str = "same_flash", max_yaw: int | None = None, gallery_flash: int = FRONTAL_FLASH,
                 geometry: bool = False, mirror: bool = False, landmark_noise: str = "none"):
        self.prepared = Path(prepared)
        self.rows = [r for r in rows if r["split"] == "train" and r["target_path"]
                     and (max_yaw is None or abs(int(r["yaw"])) <= max_yaw)]
        if not self.rows:
            raise ValueError("no training rows with a frontal target in the manifest")
        self.size = size
        self.augment = augment
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}: {', '.join(TARGETS)}")
        self.target = target
        self.gallery_flash = gallery_flash
        # geometry: each sample also carries its pose, fitted to its landmarks after augmentation (mirroring here)
        self.geometry, self.mirror = geometry, mirror
        if landmark_noise not in LANDMARK_NOISE:
            raise ValueError(f"unknown data.landmark_noise {landmark_noise!r}: {', '.join(LANDMARK_NOISE)}")
        if landmark_noise != "none" and not geometry:
            raise ValueError(f"data.landmark_noise={landmark_noise} moves the landmarks each input's pose is fitted to; "
                             "without model.geometry no pose is used")
        self.landmark_noise = landmark_noise
        if geometry:
            row_landmarks(self.rows[0])  # fails early, with what to do, on data prepared without landmarks
        # the frontal camera's shots per (subject, session, recording), by flash: what the targets are made of
        self.frontal: dict[tuple, dict[int, str]] = {}
        for r in rows:
            if r["camera"] == FRONTAL_CAMERA:
                self.frontal.setdefault(_recording_key(r), {})[int(r["flash"])] = r["crop_path"]
        if target == "gallery_flash":
            before = len(self.rows)
            self.rows = [r for r in self.rows if gallery_flash in self.frontal.get(_recording_key(r), {})]
            if not self.rows:
                raise ValueError(f"target=gallery_flash: no frontal image under flash {gallery_flash:02d} in the training rows")
            if len(self.rows) < before:
                print(f"target=gallery_flash: {before - len(self.rows)} of {before} training inputs have no frontal "
                      f"flash-{gallery_flash:02d} shot in their recording and are left out")

    def __len__(self):
        return len(self.rows)

    def _image(self, rel: str) -> np.ndarray:
        return load_square(self.prepared / rel, self.size)

    def __getitem__(self, item):
        index, seed = item
        r = self.rows[index]
        src = self._image(r["crop_path"])
        if self.target == "gallery_flash":
            tgt = self._image(self.frontal[_recording_key(r)][self.gallery_flash])
        elif self.target == "mean_flash":
            paths = self.frontal[_recording_key(r)].values()
            tgt = np.mean([self._image(p).astype(np.float32) for p in paths], axis=0).round().astype(np.uint8)
        else:
            tgt = self._image(r["target_path"])
        if self.geometry:
            src, tgt, pose = self._with_pose(src, tgt, r, seed)
            return to_tensor(src), to_tensor(tgt), int(r["yaw"]), torch.from_numpy(pose)
        if self.augment is not None:
            self.augment.set_random_seed(seed)
            out = self.augment(image=src, target=tgt)
            src, tgt = out["image"], out["target"]
        return to_tensor(src), to_tensor(tgt), int(r["yaw"]), NO_POSE

    def _with_pose(self, src: np.ndarray, tgt: np.ndarray, row: dict, seed: int) -> tuple:
        landmarks = row_landmarks(row)  # in crop pixels at the manifest's size, which is the crops' size here
        yaw, elevation = float(row["yaw"]), float(CAMERA_BY_NAME[row["camera"]].elevation)
        if self.landmark_noise == "mtcnn" and row.get("landmark_source") == "sidecar":
            # drawn in the camera's own frame, before the mirror (which then carries it to the other side)
            landmarks = perturb(landmarks, row["camera"], self.size, np.random.default_rng([seed, NOISE_STREAM]))
        if self.mirror and np.random.default_rng(seed).random() < 0.5:
            src, tgt, landmarks = mirror_with_landmarks(src, tgt, landmarks)
            yaw = -yaw
        if self.augment is not None:
            self.augment.set_random_seed(seed)
            out = self.augment(image=src, target=tgt, keypoints=landmarks)
            src, tgt, landmarks = out["image"], out["target"], np.asarray(out["keypoints"], np.float64)
        return src, tgt, poses_of([landmarks], [yaw], self.size, [elevation])[0]


class Mixed(Dataset):
    """Datasets of (index, seed) items side by side, as one: index i of their concatenation (``data.mix``)."""

    def __init__(self, parts: list[Dataset]):
        self.parts = parts
        self.ends = np.cumsum([len(p) for p in parts])

    def __len__(self):
        return int(self.ends[-1])

    def __getitem__(self, item):
        index, seed = item
        k = int(np.searchsorted(self.ends, index, side="right"))
        return self.parts[k][(index - (int(self.ends[k - 1]) if k else 0), seed)]


class _ImageList(Dataset):
    """Images by path, each resized and augmented with the seed its sampler hands it."""

    def __init__(self, paths: list[Path], size: int, augment: A.Compose | None, empty_message: str):
        if not paths:
            raise ValueError(empty_message)
        self.paths, self.size, self.augment = paths, size, augment

    def __len__(self):
        return len(self.paths)

    def load(self, item) -> torch.Tensor:
        index, seed = item
        return augmented_single(self.paths[index], self.size, self.augment, seed)


class FrontalFaces(_ImageList):
    """Real frontal faces for the critics: training-split frontal crops, drawn independently of the inputs."""

    def __init__(self, prepared: Path, rows: list[dict], size: int, augment: A.Compose | None):
        crops = sorted({r["crop_path"] for r in rows if r["split"] == "train" and r["camera"] == FRONTAL_CAMERA})
        super().__init__([Path(prepared) / c for c in crops], size, augment, "no frontal training images in the manifest")

    def __getitem__(self, item):
        return self.load(item)


class SubjectImages(_ImageList):
    """Every training-split crop of a manifest (all poses, lights, expressions), labelled by subject."""

    def __init__(self, prepared: Path, rows: list[dict], size: int, augment: A.Compose | None):
        rows = [r for r in rows if r["split"] == "train"]
        super().__init__([Path(prepared) / r["crop_path"] for r in rows], size, augment,
                         "no training images to pretrain the encoder on")
        self.class_of = {s: i for i, s in enumerate(sorted({int(r["subject"]) for r in rows}))}
        self.labels = [self.class_of[int(r["subject"])] for r in rows]

    def __getitem__(self, item):
        return self.load(item), self.labels[item[0]]


class ProfileFolder(_ImageList):
    """setting1_5: face crops from an image folder (CASIA-WebFace-like, already aligned), no targets."""

    def __init__(self, root: Path, size: int, augment: A.Compose | None):
        paths = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        super().__init__(paths, size, augment, f"{root}: no images for setting1_5's profile inputs")

    def __getitem__(self, item):
        x = self.load(item)
        return x, x, 0, NO_POSE  # no target: the trainer sees a None target for this dataset
