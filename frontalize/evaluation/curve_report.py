"""The time-to-quality curve's files: CSV, JSON, a PNG chart and a Markdown table (pipeline/curve.py measures).

A point is one step of a GAN run: ``step``, the clock (``train_s``, ``elapsed_s``, ``validation_s``), the judge's
rank-1 (``rank1_-45``, ``rank1_+45``, ``rank1_all``), SSIM to the frontal target on the face box and the whole crop
(``ssim_face``, ``ssim_crop``), the judge's identity cosine to the target, how many probes, and the full
identification table (JSON only).  Step 0 is the warp alone.  The baselines (``raw``, ``warp``) are points
without a clock: constant lines.  Every file is written atomically.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from frontalize.utils.io import atomic_open, atomic_write_bytes, atomic_write_text

RANK1 = (("rank1_all", "all"), ("rank1_-45", "-45°"), ("rank1_+45", "+45°"))
SSIM = (("ssim_face", "face box"), ("ssim_crop", "whole crop"))
CSV_COLUMNS = ("line", "step", "checkpoint", "train_s", "elapsed_s", "validation_s", "rank1_all", "rank1_-45", "rank1_+45",
               "ssim_face", "ssim_crop", "identity_cosine", "probes", "probes_with_target")
LINE_LABELS = {"raw": "raw probes", "warp": "warp only"}


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _num(value, fmt: str = "{:.3f}") -> str:
    return "–" if value is None else fmt.format(value)


def _minutes(seconds) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f}"


def curve_rows(points: list[dict], baselines: dict[str, dict]) -> list[dict]:
    """The CSV's rows: the constant lines (no step, no clock), then the curve (``line`` "curve")."""
    return ([{"line": name, **{k: v for k, v in p.items() if k != "table"}} for name, p in baselines.items()]
            + [{"line": "curve", **{k: v for k, v in p.items() if k != "table"}} for p in points])


def markdown_curve(points: list[dict], baselines: dict[str, dict], info: dict, title: str) -> str:
    best = info.get("best_step")
    val = info["validation"]
    lines = [f"### {title}", "",
             f"Probes: {val['probes_scored']} images of the {len(val['subjects'])} validation subjects the run held out "
             f"({', '.join(map(str, val['subjects']))}), against a gallery of {val['gallery']} frontal shots.",
             f"Judge `{info['judge']['path']}`: {info['judge']['trained_on']}.",
             *info["judge"].get("independence", []),
             f"Clock: {info['clock']}.", "",
             "| step | minutes | minutes with checks | judge rank-1 all (%) | -45° (%) | +45° (%) | SSIM face | SSIM whole crop |",
             "|---|---|---|---|---|---|---|---|"]

    def row(label, p, train="–", elapsed="–"):
        return (f"| {label} | {train} | {elapsed} | " + " | ".join(_pct(p[k]) for k, _ in RANK1) + " | "
                + " | ".join(_num(p[k]) for k, _ in SSIM) + " |")

    lines.append(row(LINE_LABELS["raw"], baselines["raw"]))
    for p in points:
        label = "0 (warp only)" if not p["checkpoint"] else str(p["step"]) + (" (best.pt)" if p["step"] == best else "")
        lines.append(row(label, p, _minutes(p["train_s"]), _minutes(p["elapsed_s"])))
    lines += ["", "Rank-1 counts every validation probe; SSIM only the probes whose frontal target is another picture "
              "(at 0° a probe under a flash other than the gallery's is its own target)."]
    return "\n".join(lines) + "\n"


def _chart_png(points: list[dict], baselines: dict[str, dict], title: str) -> bytes:
    """Two panels against training minutes: the judge's rank-1 (all, -45, +45) and SSIM (face box, whole crop).
    The warp alone is dashed, the raw probes dotted; the curve starts at the warp (step 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [p["train_s"] / 60 for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    panels = ((left, RANK1, 100, "judge rank-1 (%)"), (right, SSIM, 1, "SSIM to the frontal target"))
    for ax, series, scale, ylabel in panels:
        for key, label in series:
            values = [None if p[key] is None else scale * p[key] for p in points]
            if all(v is None for v in values):
                continue
            (line,) = ax.plot(minutes, values, "o-", ms=3, label=label)
            for name, style in (("warp", "--"), ("raw", ":")):
                value = baselines[name][key]
                if value is not None:
                    ax.axhline(scale * value, ls=style, lw=1, color=line.get_color())
        ax.plot([], [], "k--", lw=1, label="warp only")
        ax.plot([], [], "k:", lw=1, label="raw probes")
        ax.set_xlabel("training minutes (validation checks left out)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_curve(points: list[dict], baselines: dict[str, dict], info: dict, out_dir: Path, title: str) -> dict[str, Path]:
    """Write curve.csv, curve.json, curve.png and curve.md into ``out_dir``; returns their paths by kind."""
    out_dir = Path(out_dir)
    paths = {"csv": out_dir / "curve.csv", "json": out_dir / "curve.json", "chart": out_dir / "curve.png",
             "markdown": out_dir / "curve.md"}
    with atomic_open(paths["csv"], "w") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in curve_rows(points, baselines):
            w.writerow([_cell(r.get(c)) for c in CSV_COLUMNS])
    atomic_write_text(paths["json"], json.dumps({"title": title, **info, "baselines": baselines, "points": points},
                                                indent=1, ensure_ascii=False))
    atomic_write_bytes(paths["chart"], _chart_png(points, baselines, title))
    atomic_write_text(paths["markdown"], markdown_curve(points, baselines, info, title))
    return paths
