"""Intervals and tests for the figures probes report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Proportion:
    """count out of total, with its Wilson 95% interval."""

    count: int
    total: int

    @property
    def estimate(self) -> float:
        return self.count / self.total if self.total else float("nan")

    @property
    def ci95(self) -> tuple[float, float]:
        return wilson_interval(self.count, self.total)

    def to_dict(self) -> dict:
        low, high = self.ci95
        return {
            "estimate": self.estimate,
            "ci95": [low, high],
            "count": self.count,
            "total": self.total,
        }


def wilson_interval(count: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval: keeps its coverage near 0 and 1, unlike the normal one."""
    if total == 0:
        return (float("nan"), float("nan"))
    p = count / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(total: float, total_squares: float, count: int) -> dict:
    """Mean of per-query values with a normal 95% interval from the running sums."""
    if count == 0:
        return {"estimate": float("nan"), "ci95": [float("nan"), float("nan")], "total": 0}
    mean = total / count
    variance = max(0.0, total_squares / count - mean * mean) * count / max(count - 1, 1)
    half = Z95 * math.sqrt(variance / count)
    return {"estimate": mean, "ci95": [mean - half, mean + half], "total": count}


def binomial_test(count: int, total: int, p: float) -> float:
    """Exact two-sided binomial test p-value (scipy's method: sum of outcomes as unlikely)."""
    if total == 0:
        return float("nan")
    from scipy.stats import binomtest

    return float(binomtest(count, total, p, alternative="two-sided").pvalue)


def two_proportion_test(a: Proportion, b: Proportion) -> float:
    """Two-sided z-test p-value for a difference between two independent proportions."""
    if a.total == 0 or b.total == 0:
        return float("nan")
    pooled = (a.count + b.count) / (a.total + b.total)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / a.total + 1 / b.total))
    if spread == 0:
        return 1.0 if a.estimate == b.estimate else 0.0
    z = (a.estimate - b.estimate) / spread
    return math.erfc(abs(z) / math.sqrt(2))


def paired_difference(both: int, first_only: int, second_only: int, neither: int) -> dict:
    """The difference of two proportions measured on the same units (e.g. two objects of
    one image), p1 - p2 = (first_only - second_only) / total, with Newcombe's score
    interval for paired data (method 10 of Newcombe 1998, continuity-corrected phi) and the
    exact McNemar test (two-sided binomial test of the discordant pairs against 1/2)."""
    total = both + first_only + second_only + neither
    if total == 0:
        return {
            "estimate": float("nan"),
            "ci95": [float("nan"), float("nan")],
            "p_value": float("nan"),
            "table": [0, 0, 0, 0],
            "total": 0,
        }
    discordant = first_only + second_only
    return {
        "estimate": (first_only - second_only) / total,
        "ci95": list(newcombe_paired_interval(both, first_only, second_only, neither)),
        "p_value": 1.0 if discordant == 0 else binomial_test(first_only, discordant, 0.5),
        "table": [both, first_only, second_only, neither],
        "total": total,
    }


def paired_table(first: Sequence[bool], second: Sequence[bool]) -> tuple[int, int, int, int]:
    """(both, first only, second only, neither) over paired observations."""
    pairs = list(zip(first, second, strict=True))
    both = sum(1 for a, b in pairs if a and b)
    first_only = sum(1 for a, b in pairs if a and not b)
    second_only = sum(1 for a, b in pairs if b and not a)
    return both, first_only, second_only, len(pairs) - both - first_only - second_only


def newcombe_paired_interval(a: int, b: int, c: int, d: int) -> tuple[float, float]:
    """95% interval for (a + b)/n - (a + c)/n from the 2x2 table (a both, b first only,
    c second only, d neither): the Wilson intervals of the two margins combined with their
    correlation phi, where a positive a*d - b*c is reduced by n/2 (Newcombe's correction)."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n)
    l2, u2 = wilson_interval(a + c, n)
    spread = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    if cross > 0:
        cross = max(cross - n / 2, 0.0)
    phi = cross / math.sqrt(spread) if spread else 0.0
    delta = p1 - p2
    lower = delta - math.sqrt(
        max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    )
    upper = delta + math.sqrt(
        max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    )
    return max(-1.0, lower), min(1.0, upper)


def newcombe_difference_interval(a: Proportion, b: Proportion) -> tuple[float, float]:
    """95% interval for a - b from the two Wilson intervals (independent proportions)."""
    la, ua = wilson_interval(a.count, a.total)
    lb, ub = wilson_interval(b.count, b.total)
    pa, pb = a.estimate, b.estimate
    difference = pa - pb
    return (
        difference - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2),
        difference + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2),
    )
