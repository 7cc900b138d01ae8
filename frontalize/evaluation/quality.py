"""How close a frontalized picture is to the frontal target: identity cosine and image quality on the face.

An observer of ``identification.identify``: for each probe that has a frontal target it adds the identity
cosine between the frontalized picture and the target (the shared recognizer's embeddings), and L1, PSNR
and SSIM (scikit-image) on the template's face box; it also keeps one sample per column for the report's grid.

Which probes the means are over: those with a target (real Multi-PIE has gaps; a probe without one has
nothing to be compared with), and of those not the probes that are their own target.  At 0 degrees every
probe is the frontal camera under a flash other than the gallery's, and its target (same subject, session,
recording, flash, camera 05_1) is that very picture: its SSIM would measure reconstruction, not
frontalization.  Both counts are kept per column (``probes_with_target``, ``self_target_probes``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from frontalize.data.images import load_batch, to_uint8
from frontalize.data.multipie import camera_column
from frontalize.data.template import region_boxes

WITH_TARGET = "probes_with_target"  # probes the image-quality means are over
SELF_TARGET = "self_target_probes"  # probes left out of them because their target is the probe itself


def is_own_target(row: dict) -> bool:
    return row["target_path"] == row["crop_path"]


class TargetQuality:
    """``views``: the pictures compared with the target; the first one's columns are plain (identity_cosine, ssim, ...),
    the others' are suffixed with the view's name (ssim_warp, ...).  Samples show every view."""

    counted = (WITH_TARGET, SELF_TARGET)

    def __init__(self, scorer, prepared: Path, size: int, device, flip: bool = False, gallery_flash: int = 7,
                 keep_samples: bool = True, views: list[str] = ("frontalized",)):
        self.scorer, self.prepared, self.size, self.device, self.flip = scorer, Path(prepared), size, device, flip
        self.views, self.gallery_flash, self.keep_samples = list(views), str(gallery_flash), keep_samples
        self.face = region_boxes(size)["face"]
        self._samples: dict[str, tuple[bool, list[np.ndarray]]] = {}

    @property
    def samples(self) -> dict[str, list[np.ndarray]]:
        """Per column, input | each view | target: the first probe under the gallery flash where there is one."""
        return {column: tiles for column, (_, tiles) in self._samples.items()}

    def __call__(self, rows: list[dict], pictures: dict, embeddings: dict) -> list[dict]:
        views = [v for v in self.views if v in pictures]
        if not views:
            return [{} for _ in rows]
        out = [{WITH_TARGET: 0, SELF_TARGET: int(is_own_target(r))} for r in rows]
        with_target = [k for k, r in enumerate(rows) if r["target_path"]]
        if not with_target:
            return out
        targets = load_batch(self.prepared, [rows[k]["target_path"] for k in with_target], self.size, self.device)
        t_emb = self.scorer.recognizer.embed(targets, flip=self.flip).cpu()
        x0, y0, x1, y1 = self.face
        for j, k in enumerate(with_target):
            target = to_uint8(targets[j])
            results = {v: to_uint8(pictures[v][k]) for v in views}
            self._keep_sample(rows[k], [to_uint8(pictures["raw"][k]), *results.values(), target])
            if is_own_target(rows[k]):
                continue
            out[k][WITH_TARGET] = 1
            for v, result in results.items():
                suffix = "" if v == views[0] else f"_{v}"
                a, b = result[y0:y1, x0:x1], target[y0:y1, x0:x1]
                out[k].update({
                    f"identity_cosine{suffix}": float(embeddings[(self.scorer.name, v)][k] @ t_emb[j]),
                    f"l1{suffix}": float(np.abs(a.astype(np.float64) - b).mean() / 255.0),
                    f"psnr{suffix}": float(peak_signal_noise_ratio(b, a, data_range=255)),
                    f"ssim{suffix}": float(structural_similarity(b, a, channel_axis=2, data_range=255)),
                })
        return out

    def _keep_sample(self, row: dict, tiles: list[np.ndarray]) -> None:
        """The first probe of each column, replaced once by the first one under the gallery flash."""
        if not self.keep_samples:
            return
        column, preferred = camera_column(row["camera"]), row["flash"] == self.gallery_flash
        if column not in self._samples or (preferred and not self._samples[column][0]):
            self._samples[column] = (preferred, tiles)
