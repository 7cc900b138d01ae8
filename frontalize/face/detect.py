"""Face detection with MTCNN from facenet-pytorch (its weights ship inside the package).

One wrapper for the three users: SynthPIE's realism check, Multi-PIE
preparation and ``frontalize infer``.  Landmarks come back in the 5-point
layout of frontalize.data.landmarks (MTCNN's own order).

MTCNN needs a face to have surroundings.  On a tight face crop (the face fills the picture, as published
frontalization crops do) it returns a box larger than the picture and five points 13 px off at 128 px (median over 78
Pointing'04 frames cut tight, against the same frames' full-frame detection); detected inside a neutral grey margin of
a quarter of the side (``CONTEXT``), 2.4 px.  So a picture whose best face comes back running past its edges, or
where none is found, is detected again inside that margin; a face well inside its photo is detected as it is (on full
frames the margin changed nothing it should: docs/real_faces.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

CONTEXT = 0.25  # grey margin around every detected image, in its larger side
CONTEXT_GREY = (127, 127, 127)


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

    def __init__(self, device: str = "cpu", min_face: int = 20, thresholds=(0.6, 0.7, 0.7), context: float = CONTEXT):
        from facenet_pytorch import MTCNN  # imported here: it loads its weights on construction

        self.mtcnn = MTCNN(keep_all=True, device=torch.device(device), min_face_size=min_face, thresholds=list(thresholds))
        self.context = context

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """All faces in each image, best score first."""
        if not images:
            return []
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            return [self.detect([im])[0] for im in images]
        found = self._detect(images, 0)
        if self.context > 0:
            pad = int(round(self.context * max(images[0].shape[:2])))
            again = [i for i, dets in enumerate(found) if not dets or _past_edges(dets[0], images[i].shape)]
            for i, dets in zip(again, self._detect([images[i] for i in again], pad) if again else []):
                found[i] = dets
        return found

    def _detect(self, images: list[np.ndarray], pad: int) -> list[list[Detection]]:
        """MTCNN on the images inside a grey margin of ``pad`` pixels, in the images' own coordinates."""
        framed = [cv2.copyMakeBorder(im, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=CONTEXT_GREY) if pad else im
                  for im in images]
        with torch.inference_mode():
            boxes, probs, points = self.mtcnn.detect(np.stack(framed), landmarks=True)
        out = []
        for b, p, pts in zip(boxes, probs, points):
            if b is None:
                out.append([])
                continue
            dets = [
                Detection(np.asarray(bb, np.float64) - pad, float(pp), np.asarray(pt, np.float64) - pad)
                for bb, pp, pt in zip(b, p, pts)
            ]
            out.append(sorted(dets, key=lambda d: -d.score))
        return out


def _past_edges(d: Detection, shape) -> bool:
    """Whether a detection's box runs past the picture's edges (MTCNN's sign that the face lacks surroundings)."""
    h, w = shape[:2]
    x0, y0, x1, y1 = d.box
    return x0 < 0 or y0 < 0 or x1 > w or y1 > h
