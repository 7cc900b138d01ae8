"""The real-face report's files: Markdown, CSV (per cell and per probe), JSON, a chart and a sample grid per condition.

It only writes what evaluation/real_faces.py measured.  Every rank-1 cell carries its probe count and Wilson's 95 %
interval (evaluation/intervals.py).  The header cites Pointing'04, as its licence asks, and says that the yaw labels
are where people were asked to look.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import cv2
import numpy as np

from frontalize.data.images import write_png
from frontalize.data.pointing04 import CITATION
from frontalize.evaluation.real_faces import ALL, CONDITION_LABELS, SYNTHPIE_BACKDROP, VIEW_LABELS, RealFaceTally
from frontalize.utils.io import atomic_open, atomic_write_bytes, atomic_write_text

TILE = 128
LABEL_NOTE = ("Yaw labels are where each person was asked to look (wall markers), not a measured head pose: the head's "
              "own yaw can fall 5–15° short of the label, most at ±75/±90.")


def heading(key: str) -> str:
    return ALL if key == ALL else ("0°" if key == "0" else f"±{key}°")


def rank1_markdown(table: dict, keys: list[str]) -> list[str]:
    lines = ["| view | " + " | ".join(heading(k) for k in keys) + " |", "|---|" + "---|" * len(keys)]
    for view, cells in table.items():
        lines.append(f"| rank-1 {VIEW_LABELS.get(view, view)} (%) | "
                     + " | ".join(f"{100 * cells[k]['rate']:.1f}" if k in cells else "–" for k in keys) + " |")
    lines.append("| probes | " + " | ".join(str(next(iter(table.values()))[k]["probes"]) for k in keys) + " |")
    lines += ["", "95 % intervals (Wilson, over probes):", "",
              "| view | " + " | ".join(heading(k) for k in keys) + " |", "|---|" + "---|" * len(keys)]
    for view, cells in table.items():
        lines.append(f"| {VIEW_LABELS.get(view, view)} | " + " | ".join(
            f"{100 * cells[k]['low']:.0f}–{100 * cells[k]['high']:.0f}" if k in cells else "–" for k in keys) + " |")
    unprocessed = {v: c for v, c in table.items() if any(c[k]["unprocessed"] for k in keys)}
    lines += ["", "Not processed (no face found or not alignable; counted as misses above):", "",
              "| view | " + " | ".join(heading(k) for k in keys) + " |", "|---|" + "---|" * len(keys)]
    for view, cells in table.items():
        if view != "raw":
            lines.append(f"| {VIEW_LABELS.get(view, view)} | " + " | ".join(str(cells[k]["unprocessed"]) for k in keys)
                         + " |")
    if not unprocessed:
        lines.append("")
    lines += ["", "Median dlib distance to the own person's gallery / to the other people's (same person under 0.6):", "",
              "| view | " + " | ".join(heading(k) for k in keys) + " |", "|---|" + "---|" * len(keys)]
    for view, cells in table.items():
        lines.append(f"| {VIEW_LABELS.get(view, view)} | " + " | ".join(
            f"{cells[k]['same_median']:.3f} / {cells[k]['other_median']:.3f}" if cells[k]["same_median"] is not None
            else "–" for k in keys) + " |")
    return lines


PAIRS = (("warp", "raw"), ("frontalized", "warp"), ("frontalized", "raw"))  # (a, b): is a better than b?


def paired_tables(tally: RealFaceTally, condition: str) -> dict[tuple[str, str], dict]:
    """{(a, b): ``tally.paired``} for the pairs of ``PAIRS`` whose views this condition has."""
    views = tally.views[condition]
    return {(a, b): tally.paired(condition, a, b) for a, b in PAIRS if a in views and b in views}


def paired_markdown(paired: dict[tuple[str, str], dict], keys: list[str]) -> list[str]:
    """The views compared probe by probe (``paired_tables``): "+a / −b (p)": probes only the first view identifies,
    only the second, and the exact McNemar p-value; sharper than comparing intervals, since both views see the same
    probes."""
    if not paired:
        return []
    lines = ["Paired, probe by probe: +probes only the first view identifies / −probes only the second, and the exact "
             "McNemar p-value (two-sided; a difference under p 0.05 is one the probes can tell):", "",
             "| views | " + " | ".join(heading(k) for k in keys) + " |", "|---|" + "---|" * len(keys)]
    for (a, b), cells in paired.items():
        lines.append(f"| {VIEW_LABELS.get(a, a)} against {VIEW_LABELS.get(b, b)} | " + " | ".join(
            f"+{cells[k]['only_a']} / −{cells[k]['only_b']} ({cells[k]['p']:.2g})" for k in keys) + " |")
    return lines


def fitted_markdown(fitted: dict) -> list[str]:
    keys = [k for k in fitted]
    return ["The warp's pose, fitted to the detector's landmarks, against the label (degrees; outward < 0: turned less "
            "than the label):", "",
            "| |yaw| | " + " | ".join(heading(k) for k in keys) + " |", "|---|" + "---|" * len(keys),
            "| median \\|fitted − label\\| | " + " | ".join(f"{fitted[k]['median_abs_error']:.1f}" for k in keys) + " |",
            "| median outward error | " + " | ".join(f"{fitted[k]['median_outward']:+.1f}" for k in keys) + " |",
            "| faces fitted | " + " | ".join(str(fitted[k]["n"]) for k in keys) + " |"]


def backdrop_markdown(gaps: dict) -> list[str]:
    keys = list(next(iter(gaps.values())))
    names = {"aligned": "the aligned photo (input)", **VIEW_LABELS}
    return [f"Beyond the face: median distance of the pixels outside the template's face box from SynthPIE v1–v3's "
            f"studio grey ({SYNTHPIE_BACKDROP}/255; 8-bit, mean over channels). An output below its input paints "
            "towards the studio grey:", "",
            "| view | " + " | ".join(heading(k) for k in keys) + " |", "|---|" + "---|" * len(keys),
            *("| " + names.get(v, v) + " | " + " | ".join(f"{cells[k]:.1f}" if k in cells else "–" for k in keys) + " |"
              for v, cells in gaps.items())]


def chart_png(tables: dict[str, dict], title: str) -> bytes:
    """Rank-1 against |yaw|: one colour per view, solid for full frames, dashed for tight crops."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    colours: dict[str, str] = {}
    for condition, table in tables.items():
        style = "o-" if condition == "full" else "s--"
        for view, cells in table.items():
            keys = [k for k in cells if k != ALL]
            colour = colours.setdefault(view, f"C{len(colours)}")
            ax.plot([int(k) for k in keys], [100 * cells[k]["rate"] for k in keys], style, color=colour,
                    label=f"{VIEW_LABELS.get(view, view)}, {condition}")
    ax.set_xlabel("|yaw| label (degrees)")
    ax.set_ylabel("rank-1 (%)")
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def tile(picture: np.ndarray | None, size: int = TILE) -> np.ndarray:
    """A picture at the grid's tile size; a crossed grey tile where the view could not be made."""
    if picture is None:
        t = np.full((size, size, 3), 96, np.uint8)
        cv2.line(t, (0, 0), (size - 1, size - 1), (160, 160, 160), 2)
        cv2.line(t, (0, size - 1), (size - 1, 0), (160, 160, 160), 2)
        return t
    h, w = picture.shape[:2]
    k = size / max(h, w)
    small = cv2.resize(picture, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    t = np.full((size, size, 3), 255, np.uint8)
    y, x = (size - small.shape[0]) // 2, (size - small.shape[1]) // 2
    t[y : y + small.shape[0], x : x + small.shape[1]] = small
    return t


def sample_grid(samples: dict[str, dict[str, np.ndarray]], columns: list[str]) -> np.ndarray:
    """One row per |yaw| key: ``columns`` (input, each view, gallery) side by side."""
    rows = [np.concatenate([tile(samples[k].get(c)) for c in columns], axis=1)
            for k in sorted(samples, key=lambda k: int(k))]
    return np.concatenate(rows, axis=0)


def write_real_face_report(tally: RealFaceTally, out: Path, header: list[str], samples: dict, networks: list[str],
                           name: str = "pointing04") -> dict[str, Path]:
    """Write the report; ``samples``: condition -> |yaw| key -> column -> picture."""
    out = Path(out)
    paths = {"markdown": out / f"rank1_{name}.md", "csv": out / f"rank1_{name}.csv", "json": out / f"report_{name}.json",
             "probes": out / f"probes_{name}.csv", "chart": out / f"rank1_{name}.png"}
    tables = {c: tally.table(c) for c in CONDITION_LABELS if c in tally.views}
    paired = {c: paired_tables(tally, c) for c in tables}
    lines = [f"### Real faces: Pointing'04 ({CITATION})", "", *header, "", LABEL_NOTE, ""]
    if networks:
        lines += ["Networks:"] + [f"- {n}" for n in networks] + [""]
    for condition, table in tables.items():
        keys = tally.keys(condition)
        lines += [f"#### {CONDITION_LABELS[condition]}", "", *rank1_markdown(table, keys), ""]
        if paired[condition]:
            lines += [*paired_markdown(paired[condition], keys), ""]
        if tally.fitted[condition]:
            lines += [*fitted_markdown(tally.fitted_yaw(condition)), ""]
        if tally.backdrop[condition]:
            lines += [*backdrop_markdown(tally.backdrop_gaps(condition)), ""]
    atomic_write_text(paths["markdown"], "\n".join(lines))
    with atomic_open(paths["csv"], "w") as f:
        w = csv.writer(f)
        w.writerow(["condition", "view", "abs_yaw", "rank1", "low95", "high95", "hits", "probes", "unprocessed",
                    "same_median", "other_median"])
        for condition, table in tables.items():
            for view, cells in table.items():
                for k, c in cells.items():
                    w.writerow([condition, view, k, f"{c['rate']:.4f}", f"{c['low']:.4f}", f"{c['high']:.4f}", c["hits"],
                                c["probes"], c["unprocessed"], _num(c["same_median"]), _num(c["other_median"])])
    with atomic_open(paths["probes"], "w") as f:
        w = csv.DictWriter(f, fieldnames=list(tally.rows[0]) if tally.rows else ["condition"])
        w.writeheader()
        w.writerows(tally.rows)
    atomic_write_bytes(paths["chart"], chart_png(tables, "Pointing'04, dlib rank-1 by |yaw|"))
    for condition, grid in samples.items():
        if grid:
            columns = ["input", *[v for v in ("warp", "frontalized") if any(v in s for s in grid.values())], "gallery"]
            paths[f"samples_{condition}"] = out / f"samples_{name}_{condition}.png"
            write_png(paths[f"samples_{condition}"], sample_grid(grid, columns))
    atomic_write_text(paths["json"], json.dumps({
        "benchmark": name, "citation": CITATION, "header": header, "label_note": LABEL_NOTE, "networks": networks,
        "tables": tables, "fitted_yaw": {c: tally.fitted_yaw(c) for c in tables},
        "paired": {c: {f"{a} vs {b}": cells for (a, b), cells in paired[c].items()} for c in tables},
        "backdrop_gap": {c: tally.backdrop_gaps(c) for c in tables if tally.backdrop[c]},
    }, indent=1, ensure_ascii=False))
    return paths


def _num(v) -> str:
    return "" if v is None else f"{v:.4f}"
