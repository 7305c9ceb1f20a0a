"""Intervals and tests for the figures probes report."""

from __future__ import annotations

import math
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
        return {"estimate": self.estimate, "ci95": [low, high], "count": self.count,
                "total": self.total}  # fmt: skip


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
