"""How close a frontalized picture is to the frontal target: identity cosine and image quality on the face.

An observer of ``identification.identify``: for each probe that has a frontal target it adds the identity
cosine between the frontalized picture and the target (the shared recognizer's embeddings), and L1, PSNR
and SSIM (scikit-image) on the template's face box, and where asked SSIM on the whole crop (``ssim_crop``: hair,
ears, neck and background as well); it also keeps one sample per column for the report's grid.

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
                 keep_samples: bool = True, views: list[str] = ("frontalized",), whole_crop: bool = False):
        self.scorer, self.prepared, self.size, self.device, self.flip = scorer, Path(prepared), size, device, flip
        self.views, self.gallery_flash, self.keep_samples = list(views), str(gallery_flash), keep_samples
        self.whole_crop = whole_crop  # also SSIM over the whole crop (ssim_crop), not only the face box
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
                if self.whole_crop:
                    out[k][f"ssim_crop{suffix}"] = float(structural_similarity(target, result, channel_axis=2, data_range=255))
        return out

    def _keep_sample(self, row: dict, tiles: list[np.ndarray]) -> None:
        """The first probe of each column, replaced once by the first one under the gallery flash."""
        if not self.keep_samples:
            return
        column, preferred = camera_column(row["camera"]), row["flash"] == self.gallery_flash
        if column not in self._samples or (preferred and not self._samples[column][0]):
            self._samples[column] = (preferred, tiles)


# ------------------------------------------------------------------------------------------- by region
SSIM_WINDOW = 7  # scikit-image's default window; its SSIM is the mean of the map inside a (7 - 1) // 2 pixel border


def ssim_by_region(result: np.ndarray, target: np.ndarray, regions: dict[str, np.ndarray]) -> tuple[float, dict]:
    """SSIM of two 8-bit (H, W, 3) pictures, and its per-pixel map's mean over each boolean (H, W) region with the
    number of pixels averaged ({name: (mean, pixels)}; NaN where a region is empty).  scikit-image's SSIM is that
    map's mean over the channels and the pixels inside its border, so regions that partition the picture give it
    back as their pixel-weighted mean."""
    value, full = structural_similarity(target, result, channel_axis=2, data_range=255, win_size=SSIM_WINDOW, full=True)
    per_pixel = full.mean(axis=2)
    pad = (SSIM_WINDOW - 1) // 2
    interior = np.zeros(per_pixel.shape, bool)
    interior[pad:-pad, pad:-pad] = True
    out = {}
    for name, mask in regions.items():
        inside = mask & interior
        n = int(inside.sum())
        out[name] = (float(per_pixel[inside].mean()) if n else float("nan"), n)
    return float(value), out


def l1_by_region(result: np.ndarray, target: np.ndarray, regions: dict[str, np.ndarray]) -> dict:
    """Mean absolute difference in [0, 1] over each region ({name: (mean, pixels)}; NaN where a region is empty)."""
    diff = np.abs(result.astype(np.float64) - target).mean(axis=2) / 255.0
    return {name: (float(diff[mask].mean()) if mask.any() else float("nan"), int(mask.sum())) for name, mask in regions.items()}


class RegionQuality:
    """An observer of ``identification.identify``: how close each view is to the frontal target, by region.

    For each probe whose target is another picture (at 0 degrees a probe under the target's flash *is* its target:
    it is left out), and for each of ``views``: L1 and SSIM on the template's face box (SSIM of the box, as
    ``TargetQuality`` measures it) and on the whole crop; the face box's SSIM map split into the pixels the input
    shows and those the warp mirrored (``seen[view](rows)``: the view's hard visibility, (B, 1, S, S), for the batch
    it just made); the whole crop's map split inside and outside ``face_mask`` (the reference face: outside lie hair,
    ears, neck and background).  Per-probe values are kept in ``records`` (quality means must count only probes
    with a target, and per region only probes where the region is not empty); nothing goes into identify's tally.
    """

    def __init__(self, prepared: Path, size: int, device, views: list[str], seen: dict, face_mask: np.ndarray):
        self.prepared, self.size, self.device, self.views, self.seen = Path(prepared), size, device, list(views), seen
        x0, y0, x1, y1 = self.box = region_boxes(size)["face"]
        in_box = np.zeros((size, size), bool)
        in_box[y0:y1, x0:x1] = True
        self.in_box, self.face_mask = in_box, np.asarray(face_mask, bool)
        self.records: list[dict] = []

    def __call__(self, rows: list[dict], pictures: dict, embeddings: dict) -> list[dict]:
        keep = [k for k, r in enumerate(rows) if r["target_path"] and r["target_path"] != r["crop_path"]]
        if not keep:
            return [{} for _ in rows]
        targets = load_batch(self.prepared, [rows[k]["target_path"] for k in keep], self.size, self.device)
        x0, y0, x1, y1 = self.box
        for view in self.views:
            seen = self.seen[view](rows)[:, 0].cpu().numpy() > 0.5
            for j, k in enumerate(keep):
                result, target = to_uint8(pictures[view][k]), to_uint8(targets[j])
                box_seen = seen[k][y0:y1, x0:x1]
                ssim_face, face = ssim_by_region(result[y0:y1, x0:x1], target[y0:y1, x0:x1],
                                                 {"seen": box_seen, "mirrored": ~box_seen})
                ssim_crop, crop = ssim_by_region(result, target, {"ref_face": self.face_mask, "outside_ref": ~self.face_mask})
                l1_face = l1_by_region(result[y0:y1, x0:x1], target[y0:y1, x0:x1], {"seen": box_seen, "mirrored": ~box_seen})
                l1_crop = l1_by_region(result, target, {"all": np.ones_like(self.face_mask), "ref_face": self.face_mask,
                                                        "outside_ref": ~self.face_mask})
                row = rows[k]
                self.records.append({
                    "view": view, "yaw": int(row["yaw"]), "flash": int(row["flash"]), "subject": int(row["subject"]),
                    "ssim_face": ssim_face, "ssim_face_seen": face["seen"][0], "ssim_face_mirrored": face["mirrored"][0],
                    "mirrored_share": float((~box_seen).mean()),
                    "ssim_crop": ssim_crop, "ssim_ref_face": crop["ref_face"][0], "ssim_outside_ref": crop["outside_ref"][0],
                    "l1_face": float(np.abs(result[y0:y1, x0:x1].astype(np.float64) - target[y0:y1, x0:x1]).mean() / 255.0),
                    "l1_face_seen": l1_face["seen"][0], "l1_face_mirrored": l1_face["mirrored"][0],
                    "l1_crop": l1_crop["all"][0], "l1_ref_face": l1_crop["ref_face"][0], "l1_outside_ref": l1_crop["outside_ref"][0],
                })
        return [{} for _ in rows]


def mean_by(records: list[dict], keys: tuple[str, ...], metrics: list[str]) -> dict:
    """Means of ``metrics`` per value of ``keys`` (a tuple key), each over the records where it is a number, with
    how many those were (``n_<metric>``) and how many records (``probes``)."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = {}
    for key, group in groups.items():
        entry = {"probes": len(group)}
        for m in metrics:
            values = [r[m] for r in group if r.get(m) is not None and np.isfinite(r[m])]
            entry[m] = float(np.mean(values)) if values else None
            entry[f"n_{m}"] = len(values)
        out[key] = entry
    return out
