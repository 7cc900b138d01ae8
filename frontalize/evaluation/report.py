"""The identity report: rank-1 by yaw for raw and frontalized probes, identity cosine, image quality.

Streaming: the gallery (one image per test subject and expression) is embedded once; probes go
through in batches and only per-yaw running sums are kept, so memory does not grow with the number
of probes.  Image quality (L1, PSNR, SSIM from scikit-image) compares the frontalized output with the
frontal target on the template's face box.  Outputs: Markdown, CSV, a PNG chart, a sample grid per yaw.
"""
from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from frontalize.data.template import region_boxes
from frontalize.evaluation.identity import embed, load_batch, subsample_probes


class _Tally:
    def __init__(self):
        self.n = defaultdict(int)
        self.sums = defaultdict(lambda: defaultdict(float))

    def add(self, yaw: int, **values) -> None:
        for key in (yaw, "all"):
            for k, v in values.items():
                self.sums[key][k] += float(v)
        self.n[yaw] += 1
        self.n["all"] += 1

    def table(self) -> dict:
        keys = sorted(k for k in self.n if k != "all") + ["all"]
        return {k: {**{m: s / self.n[k] for m, s in self.sums[k].items()}, "probes": self.n[k]} for k in keys}


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return ((t.permute(1, 2, 0).cpu().numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8)


def rank1_hits(probe_emb: torch.Tensor, gallery_emb: torch.Tensor, gallery_ids: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Whether each probe's nearest gallery embedding (cosine; inputs are L2-normalised) is its own subject."""
    return gallery_ids[(probe_emb @ gallery_emb.T).argmax(1).numpy()] == subjects


def fuse_embeddings(raw: torch.Tensor, frontalized: torch.Tensor) -> torch.Tensor:
    """One embedding from both views of a probe (DESIGN's fair competitor: does frontalization add to raw?)."""
    return torch.nn.functional.normalize(raw + frontalized, dim=1)


@torch.no_grad()
def evaluate_generator(generator, recognizer, prepared: Path, rows: list[dict], size: int, device, flip: bool = False,
                       per_yaw: int | None = None, batch: int = 32, sample_yaws: bool = True, competitor=None) -> dict:
    """``rows``: a protocol manifest's rows; its test split's gallery and probes are used.

    ``competitor``: a recognizer trained on every pose; its rank-1 on the raw probes (with its own
    gallery embeddings) is reported beside the others, as DESIGN's fair comparison asks.
    """
    test = [r for r in rows if r["split"] == "test"]
    gallery = [r for r in test if r["role"] == "gallery"]
    probes = subsample_probes([r for r in test if r["role"] == "probe"], per_yaw)
    if not gallery or not probes:
        raise ValueError("the manifest has no test gallery or probes")
    x0, y0, x1, y1 = region_boxes(size)["face"]
    tally = _Tally()
    samples: dict[int, list[np.ndarray]] = {}
    generator.eval()
    for rec in sorted({r["recording"] for r in gallery}):
        g_rows = [r for r in gallery if r["recording"] == rec]
        g_emb = embed(recognizer, prepared, g_rows, size, device, flip=flip)
        g_ids = np.array([r["subject"] for r in g_rows])
        c_emb = embed(competitor, prepared, g_rows, size, device, flip=flip) if competitor is not None else None
        p_rows = [r for r in probes if r["recording"] == rec]
        for i in range(0, len(p_rows), batch):
            chunk = p_rows[i : i + batch]
            x = load_batch(prepared, [r["crop_path"] for r in chunk], size, device)
            y = generator(x)[-1]
            raw_e, front_e = recognizer.embed(x, flip=flip).cpu(), recognizer.embed(y, flip=flip).cpu()
            subjects = np.array([r["subject"] for r in chunk])
            raw_hit = rank1_hits(raw_e, g_emb, g_ids, subjects)
            front_hit = rank1_hits(front_e, g_emb, g_ids, subjects)
            fused_hit = rank1_hits(fuse_embeddings(raw_e, front_e), g_emb, g_ids, subjects)
            if competitor is not None:
                competitor_hit = rank1_hits(competitor.embed(x, flip=flip).cpu(), c_emb, g_ids, subjects)
            # probes with a frontal target: probe index -> row of the target batch
            target_of = {k: j for j, k in enumerate(k for k, r in enumerate(chunk) if r["target_path"])}
            if target_of:
                targets = load_batch(prepared, [chunk[k]["target_path"] for k in target_of], size, device)
                t_emb = recognizer.embed(targets, flip=flip).cpu()
            for k, r in enumerate(chunk):
                yaw = int(r["yaw"])
                values = {"raw": raw_hit[k], "frontalized": front_hit[k], "fused": fused_hit[k]}
                if competitor is not None:
                    values["raw_all_pose"] = competitor_hit[k]
                if k in target_of:
                    j = target_of[k]
                    out_img, tgt_img = _to_uint8(y[k])[y0:y1, x0:x1], _to_uint8(targets[j])[y0:y1, x0:x1]
                    values.update(
                        identity_cosine=float(front_e[k] @ t_emb[j]),
                        l1=float(np.abs(out_img.astype(np.float64) - tgt_img).mean() / 255.0),
                        psnr=float(peak_signal_noise_ratio(tgt_img, out_img, data_range=255)),
                        ssim=float(structural_similarity(tgt_img, out_img, channel_axis=2, data_range=255)),
                    )
                    # one sample per yaw: flash 07 where there is one (at 0 degrees that shot is the gallery)
                    if sample_yaws and (yaw not in samples or (r["flash"] == "7" and not samples[yaw][0])):
                        samples[yaw] = [r["flash"] == "7", _to_uint8(x[k]), _to_uint8(y[k]), _to_uint8(targets[j])]
                tally.add(yaw, **values)
    return {"table": tally.table(), "samples": {yaw: tiles for yaw, (_, *tiles) in samples.items()}}


def write_report(result: dict, out_dir: Path, protocol: str, title: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    table = result["table"]
    yaws = [k for k in table if k != "all"]
    metrics = ["raw", "frontalized", "fused", "raw_all_pose", "identity_cosine", "l1", "psnr", "ssim"]
    paths = {}
    # CSV
    paths["csv"] = out_dir / f"rank1_{protocol}.csv"
    with open(paths["csv"], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["yaw", "probes", "rank1_raw", "rank1_frontalized", "rank1_fused", "rank1_raw_all_pose_recognizer", "identity_cosine", "l1", "psnr", "ssim"])
        for k in yaws + ["all"]:
            v = table[k]
            w.writerow([k, v["probes"]] + [f"{v[m]:.4f}" if m in v else "" for m in metrics])
    # Markdown
    def pct(v):
        return f"{100 * v:.1f}"

    lines = [f"### {title}", "", "| yaw | " + " | ".join(f"{y:+d}°" for y in yaws) + " | all |",
             "|---|" + "---|" * (len(yaws) + 1)]
    for label, key, fmt in (("rank-1 raw (%)", "raw", pct), ("rank-1 frontalized (%)", "frontalized", pct),
                            ("rank-1 raw+frontalized fusion (%)", "fused", pct),
                            ("rank-1 raw, all-pose recognizer (%)", "raw_all_pose", pct),
                            ("identity cosine to target", "identity_cosine", lambda v: f"{v:.3f}"),
                            ("PSNR face (dB)", "psnr", lambda v: f"{v:.1f}"), ("SSIM face", "ssim", lambda v: f"{v:.3f}")):
        if not any(key in table[k] for k in yaws):
            continue  # e.g. no all-pose competitor was given
        cells = [fmt(table[k][key]) if key in table[k] else "–" for k in yaws + ["all"]]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| probes | " + " | ".join(str(table[k]["probes"]) for k in yaws + ["all"]) + " |")
    paths["markdown"] = out_dir / f"rank1_{protocol}.md"
    paths["markdown"].write_text("\n".join(lines) + "\n")
    # chart
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    ax.plot(yaws, [100 * table[y]["raw"] for y in yaws], "o-", label="raw probes")
    ax.plot(yaws, [100 * table[y]["frontalized"] for y in yaws], "s-", label="frontalized")
    ax.plot(yaws, [100 * table[y]["fused"] for y in yaws], "^--", label="raw+frontalized fusion", alpha=0.7)
    if "raw_all_pose" in table[yaws[0]]:
        ax.plot(yaws, [100 * table[y]["raw_all_pose"] for y in yaws], "d:", label="raw, all-pose recognizer", alpha=0.7)
    ax.set_xlabel("yaw (degrees)")
    ax.set_ylabel("rank-1 (%)")
    ax.set_ylim(0, 101)
    ax.set_xticks(yaws)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    paths["chart"] = out_dir / f"rank1_{protocol}.png"
    fig.savefig(paths["chart"])
    plt.close(fig)
    # sample grid: one row per yaw, input | frontalized | target
    if result["samples"]:
        rows = [np.concatenate(result["samples"][y], axis=1) for y in sorted(result["samples"])]
        paths["samples"] = out_dir / f"samples_{protocol}.png"
        cv2.imwrite(str(paths["samples"]), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    paths["json"] = out_dir / f"report_{protocol}.json"
    paths["json"].write_text(json.dumps({"protocol": protocol, "title": title,
                                         "table": {str(k): v for k, v in table.items()}}, indent=1))
    return paths
