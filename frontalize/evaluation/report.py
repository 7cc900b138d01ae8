"""The identity report's files: Markdown and CSV tables, a PNG chart, a sample grid, JSON.

It only writes what ``identification.identify`` measured (with ``quality.TargetQuality`` as observer);
every file is written atomically.  Columns are the table's camera columns in their fixed order (head-height
yaws ascending, then the raised cameras, data/multipie.py), then "all".  The header names every network and
what it was trained on (runs/provenance.py), and how many probes were scored when a fixed subsample was; notes
under the table say which probes a figure leaves out.  Below the per-camera table, the same rank-1 figures in
the papers' layout, mirror columns folded by |yaw| (evaluation/folded.py), with its own CSV and chart.
Every rank-1 cell carries its probe count (the "probes" row, the CSV's ``probes``) and Wilson's 95 % interval over
those probes (evaluation/cells.py): a row under each rank-1 row in Markdown, ``rank1_<column>_low95`` and
``_high95`` in the CSVs, ``rank1_intervals`` (hits, probes, bounds) in the JSON.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from frontalize.data.images import write_png
from frontalize.data.multipie import ALL_COLUMN, RAISED, column_order, column_yaw, is_raised
from frontalize.evaluation.cells import INTERVAL_LABEL, LEVEL, METHOD, interval_cell, intervals_of, rank1_share
from frontalize.evaluation.folded import (
    FOLDED_VIEWS, FoldedRow, fold_by_abs_yaw, folded_chart_png, folded_markdown, frontal_probes_left_out,
)
from frontalize.evaluation.quality import SELF_TARGET, WITH_TARGET
from frontalize.runs.provenance import TrainedOn
from frontalize.utils.io import atomic_open, atomic_write_bytes, atomic_write_text

VIEW_LABELS = {"raw": "raw", "frontalized": "frontalized", "fused": "raw+frontalized fusion",
               "baseline": "frontalized by the baseline generator", "warp": "warp only", "warp_fused": "raw+warp fusion"}
SCORER_LABELS = {"all_pose": "all-pose recognizer", "judge": "independent judge"}
QUALITY = (("identity_cosine", "identity cosine to target", "{:.3f}"), ("psnr", "PSNR face (dB)", "{:.1f}"),
           ("ssim", "SSIM face", "{:.3f}"), ("crop_ssim", "SSIM whole crop", "{:.3f}"))
QUALITY_KEYS = ("identity_cosine", "l1", "psnr", "ssim", "crop_ssim")
COUNTS = ("probes", WITH_TARGET, SELF_TARGET)  # per-column counts, not measures


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
    present = {k for row in table.values() for k in row if k not in COUNTS and not _is_quality(k)}
    order = list(VIEW_LABELS)
    scorers = [""] + list(SCORER_LABELS)
    return sorted(present, key=lambda c: (scorers.index(_split_column(c)[1]) if _split_column(c)[1] in scorers else 99,
                                          order.index(_split_column(c)[0]) if _split_column(c)[0] in order else 99, c))


def rank1_label(column: str) -> str:
    view, scorer = _split_column(column)
    who = f", {SCORER_LABELS[scorer]}" if scorer else ""
    return f"rank-1 {VIEW_LABELS.get(view, view)}{who} (%)"


def table_columns(table: dict) -> list[str]:
    """The table's camera columns in their fixed order, without "all"."""
    return sorted((k for k in table if k != ALL_COLUMN), key=column_order)


def column_heading(column: str) -> str:
    """"-45" -> "-45°", "+45↑" -> "+45°↑" (raised), "all" stays."""
    if column == ALL_COLUMN:
        return column
    return column.replace(RAISED, "°" + RAISED) if is_raised(column) else column + "°"


def table_notes(result: dict) -> list[str]:
    """What the table's figures leave out, in words (under the Markdown table, in the JSON)."""
    table, notes = result["table"], []
    own = {c: int(row.get(SELF_TARGET, 0)) for c, row in table.items() if c != ALL_COLUMN and row.get(SELF_TARGET)}
    if own:
        where = ", ".join(f"{n} at {column_heading(c)}" for c, n in sorted(own.items(), key=lambda kv: column_order(kv[0])))
        notes.append(f"Image-quality rows leave out {sum(own.values())} probes ({where}) that are their own frontal target "
                     "(the frontal camera under a flash other than the gallery's): there they would measure reconstruction, "
                     "not frontalization. Their rank-1 counts.")
    missing = result.get("without_gallery") or {}
    if missing.get("probes"):
        notes.append(f"{missing['probes']} probes of {len(missing['subjects'])} test subjects without a gallery image "
                     f"(subjects {', '.join(map(str, missing['subjects']))}) cannot be identified: they are left out "
                     "of rank-1, not counted as misses.")
    return notes


def folded_rows(table: dict) -> list[FoldedRow]:
    """The papers' rows present in ``table``: per recognizer (shared first), raw, warp only, frontalized, fusion."""
    rows = []
    for column in rank1_columns(table):
        view, scorer = _split_column(column)
        if view in FOLDED_VIEWS:
            rows.append(FoldedRow(column, view, scorer, rank1_label(column)))
    scorers = ["", *SCORER_LABELS]
    return sorted(rows, key=lambda r: (scorers.index(r.scorer) if r.scorer in scorers else len(scorers), r.scorer,
                                       FOLDED_VIEWS.index(r.view)))


def subsample_line(result: dict) -> str | None:
    """The header's account of a fixed probe subsample (None when every probe was scored)."""
    sub = result.get("subsample")
    if not sub:
        return None
    return (f"Probes: {sub['scored']:,} of the {sub['of']:,} that have a gallery image, a fixed subsample (at most "
            f"{sub['per_column']} per camera column, spread evenly over the flashes, seed {sub['seed']}).")


def networks_block(networks: list[tuple[str, str, TrainedOn]]) -> list[str]:
    return ["Networks and what they were trained on:"] + [f"- {role} `{path}`: {record.describe()}"
                                                          for role, path, record in networks]


def markdown_table(table: dict, title: str, networks: list[tuple[str, str, TrainedOn]] = (),
                   notes: list[str] = (), header: list[str] = ()) -> str:
    """The per-camera table; ``header``: lines under the networks (the probe subsample)."""
    columns = table_columns(table)
    keys = columns + [ALL_COLUMN]
    lines = [f"### {title}", ""]
    if networks:
        lines += networks_block(networks) + [""]
    if header:
        lines += [*header, ""]
    lines += ["| yaw | " + " | ".join(column_heading(c) for c in keys) + " |", "|---|" + "---|" * len(keys)]
    rank1 = rank1_columns(table)
    rows = [(rank1_label(c), c, lambda v: f"{100 * v:.1f}") for c in rank1]
    rows += [(label, key, fmt.format) for key, label, fmt in quality_columns(table)]
    for label, key, fmt in rows:
        if any(key in table[k] for k in columns):
            lines.append(f"| {label} | " + " | ".join(fmt(table[k][key]) if key in table[k] else "–" for k in keys) + " |")
            if key in rank1:  # how sure the row above is
                lines.append(f"| {INTERVAL_LABEL} | " + " | ".join(interval_cell(table[k], key) for k in keys) + " |")
    lines.append("| probes | " + " | ".join(str(table[k]["probes"]) for k in keys) + " |")
    if any(WITH_TARGET in table[k] for k in keys):
        lines.append("| probes with a target | " + " | ".join(str(int(table[k].get(WITH_TARGET, 0))) for k in keys) + " |")
    if notes:
        lines += [""] + [f"Note: {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _chart_png(table: dict, title: str) -> bytes:
    """Rank-1 by yaw: a line over the head-height columns, the raised cameras as open triangles at their yaw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = table_columns(table)
    level = [c for c in columns if not is_raised(c)]
    raised = [c for c in columns if is_raised(c)]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    styles = iter(["o-", "s-", "^--", "d:", "v-.", "x-", "P--", "*:"])
    for column in rank1_columns(table):
        if all(column in table[c] for c in level):
            (line,) = ax.plot([column_yaw(c) for c in level], [100 * table[c][column] for c in level], next(styles, "-"),
                              label=rank1_label(column)[7:-4])
            up = [c for c in raised if column in table[c]]
            if up:
                ax.plot([column_yaw(c) for c in up], [100 * table[c][column] for c in up], "^", mfc="none",
                        color=line.get_color(), ms=8)
    if raised:
        ax.plot([], [], "^", mfc="none", color="grey", label=f"raised camera ({', '.join(raised)})")
    ax.set_xlabel("yaw (degrees)")
    ax.set_ylabel("rank-1 (%)")
    ax.set_ylim(0, 101)
    ax.set_xticks(sorted({column_yaw(c) for c in columns}))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def rank1_csv_columns(columns: list[str]) -> list[str]:
    """Each rank-1 column's CSV columns: the rate, then its 95 % interval's bounds."""
    return [name for c in columns for name in (f"rank1_{c}", f"rank1_{c}_low95", f"rank1_{c}_high95")]


def rank1_csv_cells(row: dict, columns: list[str]) -> list[str]:
    """A row's rank-1 cells for the CSV, each as rate, low and high bound ("" where the row has no such cell)."""
    cells = []
    for c in columns:
        if c not in row:
            cells += ["", "", ""]
            continue
        low, high = rank1_share(row, c).interval
        cells += [f"{row[c]:.4f}", f"{low:.4f}", f"{high:.4f}"]
    return cells


def write_report(result: dict, out_dir: Path, protocol: str, title: str, samples: dict | None = None,
                 networks: list[tuple[str, str, TrainedOn]] = (), dataset: str | None = None,
                 header: list[str] = ()) -> dict[str, Path]:
    """Write the report of one protocol; returns the paths by kind (csv, markdown, chart, samples, json).

    ``networks``: (role, checkpoint, what it was trained on) of every network the figures come from; ``header``:
    lines the header adds (how the judge differs, warnings)."""
    out_dir = Path(out_dir)
    table = result["table"]
    keys = table_columns(table) + [ALL_COLUMN]
    columns = rank1_columns(table)
    notes = table_notes(result)
    paths = {"csv": out_dir / f"rank1_{protocol}.csv", "markdown": out_dir / f"rank1_{protocol}.md",
             "chart": out_dir / f"rank1_{protocol}.png", "json": out_dir / f"report_{protocol}.json",
             "folded_csv": out_dir / f"rank1_{protocol}_by_abs_yaw.csv",
             "folded_chart": out_dir / f"rank1_{protocol}_by_abs_yaw.png"}
    papers_rows = folded_rows(table)
    folded = fold_by_abs_yaw(table, [r.column for r in papers_rows])
    lines = [*header, *[line for line in (subsample_line(result),) if line]]
    with atomic_open(paths["csv"], "w") as f:
        w = csv.writer(f)
        counts = [c for c in COUNTS[1:] if any(c in row for row in table.values())]
        extra = sorted({k for row in table.values() for k in row if _is_quality(k)}, key=lambda c: (c.count("_"), c))
        w.writerow(["yaw", "probes", *counts] + rank1_csv_columns(columns) + extra)
        for k in keys:
            v = table[k]
            w.writerow([k, v["probes"], *[int(v.get(c, 0)) for c in counts]] + rank1_csv_cells(v, columns)
                       + [f"{v[m]:.4f}" if m in v else "" for m in extra])
    folded_columns = [r.column for r in papers_rows]
    with atomic_open(paths["folded_csv"], "w") as f:
        w = csv.writer(f)
        w.writerow(["yaw", "probes"] + rank1_csv_columns(folded_columns))
        for k, v in folded.items():
            w.writerow([k, v["probes"]] + rank1_csv_cells(v, folded_columns))
    atomic_write_text(paths["markdown"], markdown_table(table, title, networks, notes, lines) + "\n"
                      + folded_markdown(folded, papers_rows, frontal_probes_left_out(table)))
    atomic_write_bytes(paths["chart"], _chart_png(table, title))
    atomic_write_bytes(paths["folded_chart"], folded_chart_png(folded, papers_rows, title))
    if samples:  # one row per column: input | each view (frontalized, baseline, warp) | target
        paths["samples"] = out_dir / f"samples_{protocol}.png"
        write_png(paths["samples"], np.concatenate([np.concatenate(samples[c], axis=1)
                                                    for c in sorted(samples, key=column_order)], axis=0))
    atomic_write_text(paths["json"], json.dumps({
        "protocol": protocol, "title": title, "dataset": dataset,
        "networks": [{"role": role, "path": str(path), "trained_on": record.describe(), "record": json.loads(record.to_json())}
                     for role, path, record in networks],
        "header": list(header),
        "columns": keys,
        "table": {k: table[k] for k in keys},
        "by_abs_yaw": folded,
        "rank1_intervals": {
            "level": LEVEL, "method": METHOD,
            "table": intervals_of({k: table[k] for k in keys}, columns),
            "by_abs_yaw": intervals_of(folded, folded_columns),
            "by_recording": {rec: intervals_of(t, rank1_columns(t)) for rec, t in result.get("by_recording", {}).items()},
        },
        "subsample": result.get("subsample"),
        "by_recording": {rec: {str(k): v for k, v in t.items()} for rec, t in result.get("by_recording", {}).items()},
        "without_gallery": result.get("without_gallery", {"subjects": [], "probes": 0}),
        "self_target_probes": int(sum(table[k].get(SELF_TARGET, 0) for k in keys if k != ALL_COLUMN)),
        "notes": notes,
    }, indent=1, ensure_ascii=False))
    return paths
