"""A rank-1 cell as the report's tables print it: hits among probes, and Wilson's 95 % interval (intervals.py).

``identification.identify`` keeps rates; every probe of a column is one hit or one miss in every rank-1 column of
that column (each scorer scores each probe in each of its views and fusions), so a cell's hits are its rate times the
column's probes, a whole number.  ``rank1_share`` checks that it is, so a figure averaged over anything else is
never given an interval it does not have.
"""
from __future__ import annotations

from frontalize.evaluation.intervals import LEVEL, Share

INTERVAL_LABEL = f"{100 * LEVEL:.0f} % interval (Wilson)"
METHOD = "Wilson score interval over probes (scipy.stats.binomtest(...).proportion_ci(method='wilson'))"


def rank1_share(row: dict, column: str) -> Share:
    """The cell ``row[column]`` (a rate over ``row["probes"]``) as hits among probes."""
    n = int(row["probes"])
    hits = row[column] * n
    if abs(hits - round(hits)) > 1e-6 * max(n, 1):
        raise ValueError(f"rank-1 {column}: {row[column]} of {n} probes is not a share of hits among them")
    return Share(int(round(hits)), n)


def interval_cell(row: dict, column: str) -> str:
    """"85.1–91.1": the cell's 95 % interval in percent ("–" where the row has no such cell)."""
    if column not in row or not row.get("probes"):
        return "–"
    low, high = rank1_share(row, column).interval
    return f"{100 * low:.1f}–{100 * high:.1f}"


def interval_values(row: dict, column: str) -> dict:
    """The cell for the JSON: hits, probes and the interval's bounds (as rates)."""
    share = rank1_share(row, column)
    low, high = share.interval
    return {"hits": share.hits, "probes": share.n, "low95": low, "high95": high}


def intervals_of(table: dict, columns: list[str]) -> dict:
    """{key: {column: interval_values}} for every rank-1 column of every row of ``table`` that has it."""
    return {str(k): {c: interval_values(row, c) for c in columns if c in row and row.get("probes")}
            for k, row in table.items()}
