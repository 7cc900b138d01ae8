"""The papers' layout of a rank-1 table: mirror columns folded by |yaw|.

The Setting 2 tables of the frontalization papers (TP-GAN, ICCV 2017, Table 1, and those that copy it) give one
column per |yaw|, ±15° ... ±90°, each over the probes of both mirror cameras, and no 0° column; their rows are
the recognizer on the raw probes, on the frontalized ones, and fusions.  ``fold_by_abs_yaw`` turns the per-camera
table of ``identification.identify`` into that layout: a folded rank-1 figure is the hit rate over the two
columns' probes together (each column's rate weighted by its probe count: every probe has one hit or miss in every
rank-1 column), "all" is the per-camera table's (every probe once, the 0° ones included).  Raised cameras stay
apart (DESIGN: a view from above is not the head-height view of the same yaw): "-45↑" folds into "±45↑".
Only rank-1 is folded; image quality stays in the per-camera table.  A folded cell is hits among its probes too, so
it has its 95 % interval (evaluation/cells.py) like every per-camera cell.
"""
from __future__ import annotations

import io
from typing import NamedTuple

from frontalize.data.multipie import ALL_COLUMN, RAISED, column_yaw, is_raised
from frontalize.evaluation.cells import INTERVAL_LABEL, interval_cell

FOLD = "±"
# the papers' rows, in their order, for each recognizer: raw, the geometric baseline, frontalized, their fusion
FOLDED_VIEWS = ("raw", "warp", "frontalized", "fused")


class FoldedRow(NamedTuple):
    column: str  # the rank-1 column of the table: "frontalized_judge"
    view: str  # "frontalized"
    scorer: str  # "judge" ("" for the shared recognizer)
    label: str  # "rank-1 frontalized, independent judge (%)"


def folded_column(column: str) -> str | None:
    """"-45" and "+45" -> "±45"; "+45↑" -> "±45↑"; "0" -> None (no 0° column in the papers' layout); "all" stays."""
    if column == ALL_COLUMN:
        return column
    yaw = abs(column_yaw(column))
    if yaw == 0:
        return None
    return f"{FOLD}{yaw}" + (RAISED if is_raised(column) else "")


def folded_order(column: str) -> tuple:
    """Head-height |yaw| ascending, then the raised ones, then "all"."""
    if column == ALL_COLUMN:
        return (2, 0)
    return (int(is_raised(column)), int(column.lstrip(FOLD).rstrip(RAISED)))


def fold_by_abs_yaw(table: dict, rank1: list[str]) -> dict:
    """``table`` (per camera column, with "all") folded by |yaw| for the rank-1 columns named in ``rank1``:
    ``{"±15": {"raw": rate, ..., "probes": n}, ..., "all": {...}}`` (module docstring)."""
    hits: dict[str, dict[str, float]] = {}
    probes: dict[str, int] = {}
    for column, row in table.items():
        if column == ALL_COLUMN or folded_column(column) is None:
            continue
        key = folded_column(column)
        probes[key] = probes.get(key, 0) + row["probes"]
        sums = hits.setdefault(key, {})
        for name in rank1:
            if name in row:
                sums[name] = sums.get(name, 0.0) + row[name] * row["probes"]
    folded = {key: {**{name: s / probes[key] for name, s in hits[key].items()}, "probes": probes[key]}
              for key in sorted(hits, key=folded_order)}
    folded[ALL_COLUMN] = {**{name: table[ALL_COLUMN][name] for name in rank1 if name in table[ALL_COLUMN]},
                          "probes": table[ALL_COLUMN]["probes"]}
    return folded


def frontal_probes_left_out(table: dict) -> int:
    """Probes of the 0° column: counted in the folded "all", shown in no folded column."""
    return sum(row["probes"] for column, row in table.items() if column != ALL_COLUMN and folded_column(column) is None)


def folded_heading(column: str) -> str:
    return column if column == ALL_COLUMN else column.replace(RAISED, "°" + RAISED) if is_raised(column) else column + "°"


def folded_markdown(folded: dict, rows: list[FoldedRow], frontal_left_out: int = 0) -> str:
    """The folded table in Markdown, ``rows`` in the order shown."""
    keys = list(folded)
    lines = ["#### rank-1 by |yaw| (mirror columns folded, the papers' layout)", "",
             "| yaw | " + " | ".join(folded_heading(k) for k in keys) + " |", "|---|" + "---|" * len(keys)]
    for name, _, _, label in rows:
        if any(name in folded[k] for k in keys):
            lines.append(f"| {label} | " + " | ".join(f"{100 * folded[k][name]:.1f}" if name in folded[k] else "–"
                                                     for k in keys) + " |")
            lines.append(f"| {INTERVAL_LABEL} | " + " | ".join(interval_cell(folded[k], name) for k in keys) + " |")
    lines.append("| probes | " + " | ".join(str(folded[k]["probes"]) for k in keys) + " |")
    if frontal_left_out:
        lines += ["", f"Note: \"all\" counts every probe once, the {frontal_left_out} at 0° included (the frontal camera "
                      "under the other flashes, and in other sessions and recordings), though the papers' layout has no "
                      "0° column."]
    return "\n".join(lines) + "\n"


def folded_chart_png(folded: dict, rows: list[FoldedRow], title: str) -> bytes:
    """Rank-1 against |yaw| over the head-height columns: one colour per view, one line style per recognizer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    level = [k for k in folded if k != ALL_COLUMN and not is_raised(k)]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    colours, styles = {}, {}
    for name, view, scorer, label in rows:
        if not all(name in folded[k] for k in level):
            continue
        colour = colours.setdefault(view, f"C{len(colours)}")
        style = styles.setdefault(scorer, ["o-", "s--", "^:", "d-."][len(styles) % 4])
        ax.plot([int(k.lstrip(FOLD)) for k in level], [100 * folded[k][name] for k in level], style, color=colour,
                label=label.removeprefix("rank-1 ").removesuffix(" (%)"))
    ax.set_xlabel("|yaw| (degrees)")
    ax.set_ylabel("rank-1 (%)")
    ax.set_ylim(0, 101)
    ax.set_xticks([int(k.lstrip(FOLD)) for k in level])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
