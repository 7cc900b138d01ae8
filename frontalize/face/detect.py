"""Face detection with MTCNN from facenet-pytorch (its weights ship inside the package).

One wrapper for the three users: SynthPIE's realism check, Multi-PIE
preparation and ``frontalize infer``.  Landmarks come back in the 5-point
layout of frontalize.data.landmarks (MTCNN's own order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float
    five: np.ndarray  # (5, 2) pixel coordinates, pixel centres at integers

    @property
    def area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0))


class FaceDetector:
    """Batched MTCNN.  Images are RGB uint8 arrays; a batch must share one size."""

    def __init__(self, device: str = "cpu", min_face: int = 20, thresholds=(0.6, 0.7, 0.7)):
        from facenet_pytorch import MTCNN  # imported here: it loads its weights on construction

        self.mtcnn = MTCNN(keep_all=True, device=torch.device(device), min_face_size=min_face, thresholds=list(thresholds))

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """All faces in each image, best score first."""
        if not images:
            return []
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            return [self.detect([im])[0] for im in images]
        with torch.inference_mode():
            boxes, probs, points = self.mtcnn.detect(np.stack(images), landmarks=True)
        out = []
        for b, p, pts in zip(boxes, probs, points):
            if b is None:
                out.append([])
                continue
            dets = [
                Detection(np.asarray(bb, np.float64), float(pp), np.asarray(pt, np.float64))
                for bb, pp, pt in zip(b, p, pts)
            ]
            out.append(sorted(dets, key=lambda d: -d.score))
        return out
