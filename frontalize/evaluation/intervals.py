"""How sure a rank-1 figure is: Wilson's 95 % score interval for a share of hits among probes (SciPy's).

A rank-1 cell is a share of ``n`` probes that were hits; each probe a hit or not.  Wilson's interval (``scipy.stats
.binomtest(...).proportion_ci(method="wilson")``) stays inside [0, 1] and behaves at 0 % and 100 %, where the normal
approximation collapses to a point.  Probes of one person are not independent (the same face at several yaws), so
with few people the real uncertainty is wider than this: the interval is a floor, not a promise.

Two rows differ by more than chance where their intervals do not overlap (``separated``): a conservative test, used
to call a difference a finding.  Where two rows are views of the same probes (the warp and the refiner on one photo),
the sharper test is paired (``mcnemar``): only the probes that one view gets right and the other wrong count.
"""
from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import binomtest

LEVEL = 0.95


@dataclass(frozen=True)
class Share:
    hits: int
    n: int

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson's 95 % interval of the rate ((nan, nan) without probes)."""
        return wilson(self.hits, self.n)

    def cell(self) -> str:
        """"97.3 (93.1–99.0; 60)": percent, its 95 % interval, the probe count."""
        if not self.n:
            return "–"
        lo, hi = self.interval
        return f"{100 * self.rate:.1f} ({100 * lo:.1f}–{100 * hi:.1f}; {self.n})"


def wilson(hits: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= hits <= n:
        raise ValueError(f"{hits} hits among {n} probes")
    ci = binomtest(int(hits), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def separated(a: Share, b: Share) -> bool:
    """Whether the two shares' 95 % intervals do not overlap (a difference the probes alone can tell)."""
    (alo, ahi), (blo, bhi) = a.interval, b.interval
    return ahi < blo or bhi < alo


def mcnemar(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value for two views of the same probes: ``only_a`` probes the first gets right and
    the second wrong, ``only_b`` the reverse; under "the views are equally good" each such probe is a fair coin
    (SciPy's ``binomtest``).  1.0 where no probe tells them apart."""
    n = int(only_a) + int(only_b)
    return float(binomtest(int(only_a), n, 0.5).pvalue) if n else 1.0
