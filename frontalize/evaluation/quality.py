"""How close a frontalized picture is to the frontal target: identity cosine and image quality on the face.

An observer of ``identification.identify``: for each probe that has a frontal target it adds the identity
cosine between the frontalized picture and the target (the shared recognizer's embeddings), and L1, PSNR
and SSIM (scikit-image) on the template's face box; it also keeps one sample per yaw for the report's grid.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from frontalize.data.images import load_batch, to_uint8
from frontalize.data.template import region_boxes


class TargetQuality:
    """``views``: the pictures compared with the target; the first one's columns are plain (identity_cosine, ssim, ...),
    the others' are suffixed with the view's name (ssim_warp, ...).  Samples show every view."""

    def __init__(self, scorer, prepared: Path, size: int, device, flip: bool = False, gallery_flash: int = 7,
                 keep_samples: bool = True, views: list[str] = ("frontalized",)):
        self.scorer, self.prepared, self.size, self.device, self.flip = scorer, Path(prepared), size, device, flip
        self.views, self.gallery_flash, self.keep_samples = list(views), str(gallery_flash), keep_samples
        self.face = region_boxes(size)["face"]
        self._samples: dict[int, tuple[bool, list[np.ndarray]]] = {}

    @property
    def samples(self) -> dict[int, list[np.ndarray]]:
        """Per yaw, input | each view | target: the first probe under the gallery flash where there is one."""
        return {yaw: tiles for yaw, (_, tiles) in sorted(self._samples.items())}

    def __call__(self, rows: list[dict], pictures: dict, embeddings: dict) -> list[dict]:
        out = [{} for _ in rows]
        with_target = [k for k, r in enumerate(rows) if r["target_path"]]
        views = [v for v in self.views if v in pictures]
        if not with_target or not views:
            return out
        targets = load_batch(self.prepared, [rows[k]["target_path"] for k in with_target], self.size, self.device)
        t_emb = self.scorer.recognizer.embed(targets, flip=self.flip).cpu()
        x0, y0, x1, y1 = self.face
        for j, k in enumerate(with_target):
            target = to_uint8(targets[j])
            results = {v: to_uint8(pictures[v][k]) for v in views}
            for v, result in results.items():
                suffix = "" if v == views[0] else f"_{v}"
                a, b = result[y0:y1, x0:x1], target[y0:y1, x0:x1]
                out[k].update({
                    f"identity_cosine{suffix}": float(embeddings[(self.scorer.name, v)][k] @ t_emb[j]),
                    f"l1{suffix}": float(np.abs(a.astype(np.float64) - b).mean() / 255.0),
                    f"psnr{suffix}": float(peak_signal_noise_ratio(b, a, data_range=255)),
                    f"ssim{suffix}": float(structural_similarity(b, a, channel_axis=2, data_range=255)),
                })
            self._keep_sample(rows[k], [to_uint8(pictures["raw"][k]), *results.values(), target])
        return out

    def _keep_sample(self, row: dict, tiles: list[np.ndarray]) -> None:
        """The first probe of each yaw, replaced once by the first one under the gallery flash."""
        if not self.keep_samples:
            return
        yaw, preferred = int(row["yaw"]), row["flash"] == self.gallery_flash
        if yaw not in self._samples or (preferred and not self._samples[yaw][0]):
            self._samples[yaw] = (preferred, tiles)
