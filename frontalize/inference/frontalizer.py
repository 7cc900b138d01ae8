"""Frontalize photos: detect (MTCNN), align exactly as preparation aligns inputs, run the generator."""
from __future__ import annotations

import glob
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from frontalize.config import from_yaml
from frontalize.data.align import AlignmentError, pose_transform, warp
from frontalize.face.images import IMAGE_SUFFIXES_INFER, ImageProblem, detection_copy, read_image
from frontalize.models.factory import build_generator
from frontalize.recognition.data import to_tensor
from frontalize.training import checkpoint as ckpt

RUNS = Path("runs/gan")


class NoCheckpoint(FileNotFoundError):
    pass


def find_checkpoint(runs: Path = RUNS) -> Path:
    """best.pt of the newest run, else its latest step checkpoint."""
    runs = Path(runs)
    candidates = sorted((p for p in runs.glob("*/checkpoints") if p.is_dir()), key=lambda p: int(p.parent.name.split("-", 1)[0]))
    for ckpt_dir in reversed(candidates):
        if (ckpt_dir / "best.pt").exists():
            return ckpt_dir / "best.pt"
        last = ckpt.latest(ckpt_dir)
        if last is not None:
            return last
    raise NoCheckpoint(
        f"no trained generator under {runs}. Train one first: python scripts/train_gan.py --setting 1_4 "
        "(or pass --checkpoint PATH)"
    )


def load_generator(path: Path, device) -> tuple[torch.nn.Module, object]:
    path = Path(path)
    if not path.exists():
        raise NoCheckpoint(f"checkpoint not found: {path}")
    state = ckpt.load(path)
    if "generator" not in state or "config" not in state:
        raise ValueError(f"{path} is not a frontalize GAN checkpoint (no generator/config inside)")
    cfg = from_yaml(state["config"])
    cfg.model.encoder_weights = None  # the checkpoint carries the trained encoder
    g = build_generator(cfg)
    # the moving average of the weights where training kept one (train.ema): it is what was evaluated
    g.load_state_dict(state.get("generator_ema", state["generator"]))
    return g.to(device).eval(), cfg


def collect_inputs(patterns: list[str], recursive: bool) -> tuple[list[Path], list[str]]:
    """Files, folders and globs -> image files (sorted, unique) and the arguments that matched nothing."""
    found, missing = [], []
    for pat in patterns:
        p = Path(pat)
        if p.is_dir():
            it = p.rglob("*") if recursive else p.iterdir()
            files = sorted(f for f in it if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES_INFER)
        elif p.is_file():
            files = [p]
        else:
            files = sorted(Path(f) for f in glob.glob(pat, recursive=True) if Path(f).is_file())
        if not files:
            missing.append(pat)
        found += files
    seen, unique = set(), []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, missing


@dataclass
class FaceCrop:
    source: Path
    index: int  # face number within the photo
    crop: np.ndarray  # RGB uint8, size x size


@dataclass
class FileResult:
    path: Path
    ok: bool
    message: str
    outputs: list[Path] = field(default_factory=list)


class Frontalizer:
    def __init__(self, checkpoint: Path, device: str = "cpu", all_faces: bool = False):
        t0 = time.perf_counter()
        self.device = torch.device(device)
        self.G, self.cfg = load_generator(checkpoint, self.device)
        self.size = self.cfg.data.size
        from frontalize.face.detect import FaceDetector

        self.detector = FaceDetector(device=device)
        self.all_faces = all_faces
        self.load_seconds = time.perf_counter() - t0

    def crops(self, path: Path) -> list[FaceCrop]:
        """Detect on a downscaled copy, align on the original; raises ImageProblem when there is no face."""
        rgb = read_image(path)
        small, scale = detection_copy(rgb)
        dets = self.detector.detect([small])[0]
        if not dets:
            raise ImageProblem("no face found")
        chosen = sorted(dets, key=lambda d: -d.area) if self.all_faces else [max(dets, key=lambda d: d.area)]
        out = []
        for k, d in enumerate(chosen):
            try:
                m = pose_transform(d.five / scale, self.size)
            except AlignmentError as e:
                if not self.all_faces:
                    raise ImageProblem(f"face found but not alignable ({e})") from None
                continue
            out.append(FaceCrop(path, k, warp(rgb, m, self.size)))
        return out

    @torch.no_grad()
    def frontalize(self, crops: list[FaceCrop]) -> list[np.ndarray]:
        x = torch.stack([to_tensor(c.crop) for c in crops]).to(self.device)
        y = self.G(x)[-1]
        return [((t.permute(1, 2, 0).cpu().numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8) for t in y]


def write_png(path: Path, rgb: np.ndarray) -> None:
    from frontalize.utils.io import atomic_write_bytes

    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    atomic_write_bytes(path, png.tobytes())
