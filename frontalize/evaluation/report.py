"""The identity report's files: Markdown and CSV tables, a PNG chart, a sample grid, JSON.

It only writes what ``identification.identify`` measured (with ``quality.TargetQuality`` as observer);
every file is written atomically.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from frontalize.data.images import write_png
from frontalize.utils.io import atomic_open, atomic_write_bytes, atomic_write_text

VIEW_LABELS = {"raw": "raw", "frontalized": "frontalized", "fused": "raw+frontalized fusion",
               "baseline": "frontalized by the baseline generator", "warp": "warp only", "warp_fused": "raw+warp fusion"}
SCORER_LABELS = {"all_pose": "all-pose recognizer", "judge": "independent judge"}
QUALITY = (("identity_cosine", "identity cosine to target", "{:.3f}"), ("psnr", "PSNR face (dB)", "{:.1f}"),
           ("ssim", "SSIM face", "{:.3f}"))
QUALITY_KEYS = ("identity_cosine", "l1", "psnr", "ssim")


def _quality_view(column: str) -> str | None:
    """``ssim_warp`` -> "warp", ``ssim`` -> "" (the first view's), a rank-1 column -> None."""
    for key in QUALITY_KEYS:
        if column == key:
            return ""
        if column.startswith(key + "_"):
            return column[len(key) + 1 :]
    return None


def _is_quality(column: str) -> bool:
    return _quality_view(column) is not None


def quality_columns(table: dict) -> list[tuple[str, str, str]]:
    """(column, label, format) of the image-quality rows present: the first view's, then the other views'."""
    present = {k for row in table.values() for k in row if _is_quality(k)}
    views = sorted({_quality_view(c) for c in present}, key=lambda v: (v != "", v))
    return [(key + (f"_{v}" if v else ""), label + (f", {VIEW_LABELS.get(v, v)}" if v else ""), fmt)
            for v in views for key, label, fmt in QUALITY if key + (f"_{v}" if v else "") in present]


def _split_column(column: str) -> tuple[str, str]:
    """``frontalized_judge`` -> ("frontalized", "judge"); ``raw`` -> ("raw", "")."""
    for scorer in SCORER_LABELS:
        if column.endswith("_" + scorer):
            return column[: -len(scorer) - 1], scorer
    return column, ""


def rank1_columns(table: dict) -> list[str]:
    """The rank-1 columns present, in reading order: by scorer (shared first), then by view."""
    present = {k for row in table.values() for k in row if k != "probes" and not _is_quality(k)}
    order = list(VIEW_LABELS)
    scorers = [""] + list(SCORER_LABELS)
    return sorted(present, key=lambda c: (scorers.index(_split_column(c)[1]) if _split_column(c)[1] in scorers else 99,
                                          order.index(_split_column(c)[0]) if _split_column(c)[0] in order else 99, c))


def rank1_label(column: str) -> str:
    view, scorer = _split_column(column)
    who = f", {SCORER_LABELS[scorer]}" if scorer else ""
    return f"rank-1 {VIEW_LABELS.get(view, view)}{who} (%)"


def markdown_table(table: dict, title: str) -> str:
    yaws = [k for k in table if k != "all"]
    keys = yaws + ["all"]
    lines = [f"### {title}", "", "| yaw | " + " | ".join(f"{y:+d}°" for y in yaws) + " | all |",
             "|---|" + "---|" * (len(yaws) + 1)]
    rows = [(rank1_label(c), c, lambda v: f"{100 * v:.1f}") for c in rank1_columns(table)]
    rows += [(label, key, fmt.format) for key, label, fmt in quality_columns(table)]
    for label, key, fmt in rows:
        if any(key in table[k] for k in yaws):
            lines.append(f"| {label} | " + " | ".join(fmt(table[k][key]) if key in table[k] else "–" for k in keys) + " |")
    lines.append("| probes | " + " | ".join(str(table[k]["probes"]) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def _chart_png(table: dict, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yaws = [k for k in table if k != "all"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    styles = iter(["o-", "s-", "^--", "d:", "v-.", "x-", "P--", "*:"])
    for column in rank1_columns(table):
        if all(column in table[y] for y in yaws):
            ax.plot(yaws, [100 * table[y][column] for y in yaws], next(styles, "-"), label=rank1_label(column)[7:-4])
    ax.set_xlabel("yaw (degrees)")
    ax.set_ylabel("rank-1 (%)")
    ax.set_ylim(0, 101)
    ax.set_xticks(yaws)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_report(result: dict, out_dir: Path, protocol: str, title: str, samples: dict | None = None) -> dict[str, Path]:
    """Write the report of one protocol; returns the paths by kind (csv, markdown, chart, samples, json)."""
    out_dir = Path(out_dir)
    table = result["table"]
    columns = rank1_columns(table)
    paths = {"csv": out_dir / f"rank1_{protocol}.csv", "markdown": out_dir / f"rank1_{protocol}.md",
             "chart": out_dir / f"rank1_{protocol}.png", "json": out_dir / f"report_{protocol}.json"}
    with atomic_open(paths["csv"], "w") as f:
        w = csv.writer(f)
        extra = sorted({k for row in table.values() for k in row if _is_quality(k)}, key=lambda c: (c.count("_"), c))
        w.writerow(["yaw", "probes"] + [f"rank1_{c}" for c in columns] + extra)
        for k, v in table.items():
            w.writerow([k, v["probes"]] + [f"{v[m]:.4f}" if m in v else "" for m in columns + extra])
    atomic_write_text(paths["markdown"], markdown_table(table, title))
    atomic_write_bytes(paths["chart"], _chart_png(table, title))
    if samples:  # one row per yaw: input | each view (frontalized, baseline, warp) | target
        paths["samples"] = out_dir / f"samples_{protocol}.png"
        write_png(paths["samples"], np.concatenate([np.concatenate(samples[y], axis=1) for y in sorted(samples)], axis=0))
    atomic_write_text(paths["json"], json.dumps({
        "protocol": protocol, "title": title, "table": {str(k): v for k, v in table.items()},
        "by_recording": {rec: {str(k): v for k, v in t.items()} for rec, t in result.get("by_recording", {}).items()},
    }, indent=1))
    return paths
